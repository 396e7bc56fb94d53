// The shop: pick seats on the map (click, or Tab and Enter/Space) or a GA quantity, hold them,
// and go to checkout. A place someone just took comes back as 409: pick again.
'use strict';
(() => {
  const shop = document.getElementById('shop');
  const event = shop.dataset.event;
  const max = Number(shop.dataset.max);
  const picked = new Set();
  const errorBox = document.getElementById('shop-error');
  const holdButton = document.getElementById('hold-seats');
  const summary = document.getElementById('seat-summary');

  function showError(text) { errorBox.textContent = text || ''; errorBox.hidden = !text; }

  function refreshSummary() {
    if (!summary) return;
    summary.textContent = picked.size ? `${picked.size} seat${picked.size > 1 ? 's' : ''}: ${[...picked].join(', ')}` : 'No seats picked.';
    holdButton.disabled = picked.size === 0;
  }

  document.querySelectorAll('button.seat').forEach((seat) => {
    seat.addEventListener('click', () => {
      const id = seat.dataset.id;
      if (picked.has(id)) {
        picked.delete(id);
      } else {
        if (picked.size >= max) { showError(`You can pick up to ${max} places.`); return; }
        picked.add(id);
      }
      showError('');
      seat.classList.toggle('selected', picked.has(id));
      seat.setAttribute('aria-pressed', String(picked.has(id)));
      refreshSummary();
    });
  });

  async function hold(body) {
    let r;
    try {
      r = await fetch(`/api/v1/events/${event}/holds`, {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
    } catch (e) { showError('Connection lost. Please try again.'); return; }
    const data = await r.json().catch(() => ({}));
    if (r.status === 201) {
      sessionStorage.setItem(`hold:${data.hold_id}`, JSON.stringify(data));
      location.assign(`/events/${event}/checkout/${data.hold_id}`);
      return;
    }
    if (r.status === 409 && data.unavailable) {
      for (const id of data.unavailable) {
        const seat = document.querySelector(`button.seat[data-id="${CSS.escape(id)}"]`);
        if (seat) { seat.className = 'seat held'; seat.disabled = true; seat.setAttribute('aria-pressed', 'false'); picked.delete(id); }
      }
      refreshSummary();
      showError('Someone just took some of those places. Please pick again.');
      return;
    }
    if (r.status === 403) { location.assign(`/events/${event}/queue`); return; }
    if (r.status === 429 || r.status === 503) { showError('Busy right now. Please retry in a moment.'); return; }
    showError(data.message || `Something went wrong (${r.status}).`);
  }

  if (holdButton) holdButton.addEventListener('click', () => hold({ seats: [...picked] }));
  document.querySelectorAll('form.ga').forEach((form) => {
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      hold({ tier: form.dataset.tier, quantity: Number(form.quantity.value) });
    });
  });
})();
