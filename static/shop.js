// The shop. The seat map is drawn here from the layout in the page (the event's seating blocks)
// and the seats' states, which come compactly from …/availability (two bits per seat, in the
// layout's order) and are refreshed every two seconds, so seats others take grey out while the
// fan looks, and once more when the fan asks to hold the seats picked. An overview shows each section with its free seats; a section opens as rows of
// seat buttons (click, or Tab and Enter/Space). Or the shop picks the best available seats; or
// a quantity of a general-admission tier. A place someone just took still comes back as 409:
// it is marked, and the fan picks again.
'use strict';
(() => {
  const shop = document.getElementById('shop');
  const event = shop.dataset.event;
  const max = Number(shop.dataset.max);
  const errorBox = document.getElementById('shop-error');
  const noticeBox = document.getElementById('shop-notice');
  const REFRESH_MS = 2000;
  const CODES = ['free', 'held', 'sold'];

  function showError(text) { errorBox.textContent = text || ''; errorBox.hidden = !text; }
  function showNotice(text) { noticeBox.textContent = text || ''; noticeBox.hidden = !text; }

  async function hold(body) {
    let r;
    try {
      r = await fetch(`/api/v1/events/${event}/holds`, {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
    } catch (e) { showError('Connection lost. Please try again.'); return null; }
    const data = await r.json().catch(() => ({}));
    if (r.status === 201) {
      sessionStorage.setItem(`hold:${data.hold_id}`, JSON.stringify(data));
      location.assign(`/events/${event}/checkout/${data.hold_id}`);
      return null;
    }
    if (r.status === 403) { location.assign(`/events/${event}/queue`); return null; }
    if (r.status === 429 || r.status === 503) { showError('Busy right now. Please retry in a moment.'); return null; }
    if (r.status === 409 && data.error === 'unavailable') return data;
    showError(data.message || `Something went wrong (${r.status}).`);
    return null;
  }

  document.querySelectorAll('form.ga').forEach((form) => {
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const refused = await hold({ tier: form.dataset.tier, quantity: Number(form.quantity.value) });
      if (refused) showError('Not that many places are left. Please pick fewer.');
    });
  });

  const mapCard = document.getElementById('seatmap');
  if (!mapCard) return;

  // ---- the layout: blocks in order, rows from 1, seats from 1; a seat's index in the states
  const blocks = JSON.parse(mapCard.dataset.layout);
  let offset = 0;
  for (const b of blocks) { b.offset = offset; b.count = b.rows * b.seats_per_row; offset += b.count; }
  const seatCount = offset;
  const seatId = (b, row, seat) => `${b.section}-${row}-${seat}`;
  function locate(id) {
    const [section, row, seat] = id.split('-');
    const b = blocks.find((x) => x.section === section);
    return b ? b.offset + (Number(row) - 1) * b.seats_per_row + (Number(seat) - 1) : -1;
  }

  // ---- the states
  let states = new Uint8Array(seatCount); // 0 free, 1 held, 2 sold
  let version = null;
  let layoutVersion = null;
  const picked = new Set(); // seat ids
  const status = document.getElementById('map-status');
  const summary = document.getElementById('seat-summary');
  const holdButton = document.getElementById('hold-seats');

  function decode(text, count) {
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) out[i] = (bytes[i >> 2] >> ((i & 3) * 2)) & 3;
    return out;
  }

  function refreshSummary() {
    summary.textContent = picked.size ? `${picked.size} seat${picked.size > 1 ? 's' : ''}: ${[...picked].join(', ')}` : 'No seats picked.';
    holdButton.disabled = picked.size === 0;
  }

  // ---- the overview: one tile per section, with its free seats
  const overview = document.getElementById('overview');
  const sectionView = document.getElementById('section');
  let open = null; // the block shown, if any

  function freeIn(b) {
    let free = 0;
    for (let i = b.offset; i < b.offset + b.count; i++) if (states[i] === 0) free++;
    return free;
  }

  function drawOverview() {
    overview.textContent = '';
    for (const b of blocks) {
      const tile = document.createElement('button');
      tile.type = 'button';
      tile.className = 'section-tile';
      tile.dataset.section = b.section;
      tile.addEventListener('click', () => openSection(b));
      const name = document.createElement('strong');
      name.textContent = `Section ${b.section}`;
      const detail = document.createElement('span');
      detail.className = 'small';
      const bar = document.createElement('span');
      bar.className = 'tile-bar';
      const fill = document.createElement('span');
      bar.appendChild(fill);
      tile.append(name, detail, bar);
      overview.appendChild(tile);
      b.tile = { tile, detail, fill };
    }
    updateOverview();
  }

  function updateOverview() {
    for (const b of blocks) {
      if (!b.tile) continue;
      const free = freeIn(b);
      b.tile.detail.textContent = `${b.tier} · ${b.price} · ${free.toLocaleString()} of ${b.count.toLocaleString()} free`;
      b.tile.fill.style.width = `${Math.round((100 * free) / b.count)}%`;
      b.tile.tile.setAttribute('aria-label', `Section ${b.section}, ${b.tier}, ${b.price}, ${free} of ${b.count} seats free`);
      b.tile.tile.classList.toggle('full', free === 0);
    }
  }

  // ---- a section: rows of seat buttons
  function seatLabel(b, row, seat, state) {
    return `Section ${b.section}, row ${row}, seat ${seat}, ${b.price}, ${CODES[state]}`;
  }

  function openSection(b) {
    open = b;
    sectionView.textContent = '';
    const head = document.createElement('div');
    head.className = 'section-head';
    const back = document.createElement('button');
    back.type = 'button';
    back.className = 'button secondary';
    back.textContent = '← All sections';
    back.addEventListener('click', closeSection);
    const title = document.createElement('h3');
    title.textContent = `Section ${b.section} · ${b.tier} · ${b.price}`;
    head.append(back, title);
    const grid = document.createElement('div');
    grid.className = 'section-grid';
    grid.setAttribute('role', 'group');
    grid.setAttribute('aria-label', `Section ${b.section}`);
    const rows = document.createDocumentFragment();
    for (let row = 1; row <= b.rows; row++) {
      const line = document.createElement('div');
      line.className = 'seat-row';
      const label = document.createElement('span');
      label.className = 'row-label';
      label.setAttribute('aria-hidden', 'true');
      label.textContent = row;
      line.appendChild(label);
      for (let seat = 1; seat <= b.seats_per_row; seat++) {
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'seat';
        button.dataset.id = seatId(b, row, seat);
        button.dataset.index = b.offset + (row - 1) * b.seats_per_row + (seat - 1);
        button.textContent = seat;
        line.appendChild(button);
      }
      rows.appendChild(line);
    }
    grid.appendChild(rows);
    sectionView.append(head, grid);
    overview.hidden = true;
    sectionView.hidden = false;
    paintSection();
    back.focus();
  }

  function closeSection() {
    const was = open;
    open = null;
    sectionView.hidden = true;
    sectionView.textContent = '';
    overview.hidden = false;
    updateOverview();
    if (was && was.tile) was.tile.tile.focus();
  }

  function paintSection() {
    if (!open) return;
    const b = open;
    for (const button of sectionView.querySelectorAll('button.seat')) {
      const index = Number(button.dataset.index);
      const state = states[index];
      const mine = picked.has(button.dataset.id);
      const cls = mine ? 'seat selected' : `seat ${CODES[state]}`;
      if (button.className !== cls) button.className = cls;
      const disabled = !mine && state !== 0;
      if (button.disabled !== disabled) button.disabled = disabled;
      button.setAttribute('aria-pressed', String(mine));
      const local = index - b.offset;
      const row = Math.floor(local / b.seats_per_row) + 1;
      const seat = (local % b.seats_per_row) + 1;
      button.setAttribute('aria-label', seatLabel(b, row, seat, mine ? 0 : state));
    }
  }

  sectionView.addEventListener('click', (e) => {
    const button = e.target.closest('button.seat');
    if (!button || button.disabled) return;
    const id = button.dataset.id;
    if (picked.has(id)) {
      picked.delete(id);
    } else {
      if (picked.size >= max) { showError(`You can pick up to ${max} places.`); return; }
      picked.add(id);
    }
    showError('');
    paintSection();
    refreshSummary();
  });

  // ---- keeping up with the sale
  let timer = null;
  let refreshing = null;
  // One refresh at a time: a click or a tab coming back while one is on its way waits for it
  // rather than starting a second loop of refreshes.
  function refresh() {
    if (!refreshing) refreshing = refreshOnce().finally(() => { refreshing = null; });
    return refreshing;
  }
  async function refreshOnce() {
    clearTimeout(timer);
    if (document.hidden) { timer = setTimeout(refresh, REFRESH_MS); return; }
    try {
      // `no-cache`: the browser revalidates with the ETag; unchanged states cost a 304.
      const r = await fetch(`/api/v1/events/${event}/availability`, { credentials: 'same-origin', cache: 'no-cache' });
      if (r.status === 403) { location.assign(`/events/${event}/queue`); return; }
      if (r.ok) {
        const data = await r.json();
        if (layoutVersion && data.layout !== layoutVersion) { location.reload(); return; }
        layoutVersion = data.layout;
        if (data.version !== version && data.count === seatCount) {
          version = data.version;
          states = decode(data.seats, data.count);
          const lost = [...picked].filter((id) => states[locate(id)] !== 0);
          lost.forEach((id) => picked.delete(id));
          if (lost.length) showNotice(`Just taken by someone else: ${lost.join(', ')}. Please pick again.`);
          updateOverview();
          paintSection();
          refreshSummary();
          for (const t of data.tiers || []) {
            const form = document.querySelector(`form.ga[data-tier="${CSS.escape(t.id)}"] [data-available]`);
            if (form) form.textContent = t.available > 0 ? `${t.available} left` : 'none left';
          }
        }
        status.textContent = `Live: seats others take grey out (updated ${new Date().toLocaleTimeString()}).`;
        if (!mapCard.dataset.rendered) {
          mapCard.dataset.rendered = String(Math.round(performance.now()));
        }
      } else {
        status.textContent = 'Could not update the map; retrying…';
      }
    } catch (e) {
      status.textContent = 'Connection lost; retrying…';
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });

  holdButton.addEventListener('click', async () => {
    // One more look first (cheap: a 304 when nothing changed): seats taken since the last
    // refresh are dropped and named, and the fan picks again instead of meeting a 409.
    const before = picked.size;
    holdButton.disabled = true;
    await refresh();
    if (picked.size !== before || picked.size === 0) { refreshSummary(); return; }
    const refused = await hold({ seats: [...picked] });
    if (!refused) return;
    for (const id of refused.unavailable || []) {
      const index = locate(id);
      if (index >= 0) states[index] = 1;
      picked.delete(id);
    }
    paintSection();
    updateOverview();
    refreshSummary();
    showError('Someone just took some of those seats. Please pick again.');
    refresh();
  });

  const best = document.getElementById('best');
  if (best) {
    best.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = { quantity: Number(best.quantity.value), together: best.together.checked };
      if (best.tier && best.tier.value) body.tier = best.tier.value;
      const refused = await hold({ best_available: body });
      if (refused) {
        showError(body.together
          ? `No ${body.quantity} seats side by side are free right now. Try fewer, or untick "Side by side".`
          : `Not ${body.quantity} seats are free right now.`);
        refresh();
      }
    });
  }

  drawOverview();
  refreshSummary();
  refresh();
})();
