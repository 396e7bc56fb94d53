// Checkout: shows the hold and its countdown, validates the form, and orders with one
// Idempotency-Key per checkout, so a double click (or a retry after a lost answer) can never
// make two orders.
'use strict';
(() => {
  const page = document.getElementById('checkout');
  const event = page.dataset.event;
  const holdId = page.dataset.hold;
  const $ = (id) => document.getElementById(id);
  const money = (cents) => `$${(cents / 100).toFixed(2)}`;
  const keyName = `order-key:${holdId}`;
  const key = sessionStorage.getItem(keyName) || crypto.randomUUID();
  sessionStorage.setItem(keyName, key);

  const hold = JSON.parse(sessionStorage.getItem(`hold:${holdId}`) || 'null');
  if (hold) {
    $('items').innerHTML = '';
    for (const item of hold.items) {
      const li = document.createElement('li');
      li.textContent = `${item.id} · ${item.tier} · ${money(item.price_cents)}`;
      $('items').appendChild(li);
    }
    $('total').textContent = money(hold.total_cents);
    const ends = Date.parse(hold.expires_at);
    const tick = () => {
      const left = Math.max(0, Math.round((ends - Date.now()) / 1000));
      $('countdown').textContent = left > 0
        ? `Held for you for ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`
        : 'Your hold has expired; your places were released.';
      if (left > 0) setTimeout(tick, 1000);
    };
    tick();
  }

  function fieldError(name, text) { const el = $(`${name}-error`); el.textContent = text || ''; el.hidden = !text; }
  function formError(text) { $('buy-error').textContent = text || ''; $('buy-error').hidden = !text; }

  let busy = false;
  $('buy').addEventListener('submit', async (e) => {
    e.preventDefault();
    if (busy) return;
    const name = $('name').value.trim();
    const email = $('email').value.trim();
    fieldError('name', name ? '' : 'Please enter your name.');
    fieldError('email', /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email) ? '' : 'Please enter a valid email address.');
    if (!name || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) return;
    busy = true;
    $('buy-button').disabled = true;
    formError('');
    try {
      const r = await fetch(`/api/v1/events/${event}/holds/${holdId}/order`, {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key },
        body: JSON.stringify({ name, email }),
      });
      const data = await r.json().catch(() => ({}));
      if (r.status === 201 || r.status === 200) { location.assign(`/orders/${data.order_id}`); return; }
      if (r.status === 410) formError('Your hold expired and the places were released. Please pick again.');
      else if (r.status === 403) formError('Your admission has run out. Please go back to the line.');
      else if (r.status === 422) formError(data.message || 'Please check your details.');
      else if (r.status === 429 || r.status === 503) formError('Busy right now. Press Buy again in a moment; you will not be charged twice.');
      else formError(data.message || `Something went wrong (${r.status}).`);
    } catch (err) {
      formError('Connection lost. Press Buy again; you will not be charged twice.');
    }
    busy = false;
    $('buy-button').disabled = false;
  });

  $('release').addEventListener('click', async (e) => {
    e.preventDefault();
    await fetch(`/api/v1/events/${event}/holds/${holdId}`, { method: 'DELETE', credentials: 'same-origin' }).catch(() => {});
    location.assign(`/events/${event}/shop`);
  });
})();
