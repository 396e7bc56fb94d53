// The waiting room: joins the line (solving the proof of work when the event asks for it),
// then polls the fan's status when the server says to (poll_after_ms: about when the fan will
// be near the front, jittered so a crowd does not poll in step). Near the front (poll_after_ms 0) it waits
// on a long poll instead, which the server answers the moment the fan is admitted. Moves on
// to the shop when admitted.
'use strict';
(() => {
  const room = document.getElementById('room');
  const event = room.dataset.event;
  const api = `/api/v1/events/${event}`;
  const $ = (id) => document.getElementById(id);
  let firstAhead = null;

  const wait = (ms) => new Promise((r) => setTimeout(r, ms));
  const retryAfter = (r) => 1000 * (parseInt(r.headers.get('Retry-After'), 10) || 2);

  function showError(text) {
    const el = $('room-error');
    el.textContent = text || '';
    el.hidden = !text;
  }

  function eta(secs) {
    if (secs === null || secs === undefined) return 'estimating…';
    if (secs < 60) return 'less than a minute';
    const low = Math.max(1, Math.floor((secs * 0.8) / 60));
    const high = Math.ceil((secs * 1.25) / 60);
    return low >= high ? `about ${low} min` : `${low}–${high} min`;
  }

  function show(s) {
    const text = {
      pre_queue: 'You are in the pre-queue. When the sale opens, everyone in it gets a random place ahead of later arrivals.',
      waiting: 'You are in line. Keep this page open; it updates by itself.',
      admitted: 'It is your turn! Taking you to the shop…',
      expired: 'Your turn came while you were away, and your admission has lapsed.',
    }[s.state] || '';
    const waiting = s.state === 'waiting' || s.state === 'pre_queue';
    const sale = {
      sold_out: 'Sold out for now: every place is sold or held. Held places come back if they are not bought in time; keep this page open to take one.',
      closed: 'The sale has closed.',
    }[s.sale_state];
    $('room-state').textContent = waiting && sale ? sale : text;
    // Only a fan still in line can leave it (the form posts without scripts, too).
    $('leave-form').hidden = !waiting;
    $('room-position').textContent = s.position.toLocaleString();
    $('room-ahead').textContent = s.ahead.toLocaleString();
    $('room-eta').textContent = s.state === 'pre_queue' ? 'starts at opening' : eta(s.eta_secs);
    if (firstAhead === null || s.ahead > firstAhead) firstAhead = s.ahead;
    const done = s.state === 'admitted' ? 100 : firstAhead > 0 ? Math.round(100 * (1 - s.ahead / firstAhead)) : 0;
    const bar = $('room-progress');
    bar.setAttribute('aria-valuenow', String(done));
    bar.firstElementChild.style.width = `${done}%`;
  }

  // How long a long poll may wait for a change (the server holds it near the front only).
  const LONG_POLL_SECS = 25;
  // When the server names no interval (an older server): every 5 s, jittered.
  const FALLBACK_POLL_MS = 5000;
  function nextPoll(s) {
    if (typeof s.poll_after_ms === 'number') return s.poll_after_ms;
    return FALLBACK_POLL_MS * (0.8 + Math.random() * 0.4);
  }

  function solve(challenge) {
    $('pow').hidden = false;
    return new Promise((resolve, reject) => {
      const worker = new Worker('/static/pow-worker.js');
      worker.onmessage = (e) => {
        if (e.data.nonce === undefined) {
          $('pow-progress').textContent = `${e.data.progress}%`;
          $('pow-bar').style.width = `${e.data.progress}%`;
          return;
        }
        worker.terminate();
        $('pow').hidden = true;
        resolve({ challenge: challenge.challenge, nonce: e.data.nonce });
      };
      worker.onerror = (err) => { worker.terminate(); reject(err); };
      worker.postMessage({ challenge: challenge.challenge, bits: challenge.difficulty_bits });
    });
  }

  async function join() {
    const init = { method: 'POST', credentials: 'same-origin' };
    if (Number(room.dataset.pow) > 0) {
      const c = await (await fetch(`${api}/challenge`, { cache: 'no-store' })).json();
      init.headers = { 'Content-Type': 'application/json' };
      init.body = JSON.stringify({ pow: await solve(c) });
    }
    return fetch(`${api}/queue`, init);
  }

  async function run() {
    let joined = false;
    let longPoll = false;
    for (;;) {
      let r;
      room.dataset.mode = longPoll ? 'waiting' : 'polling';
      try {
        const url = longPoll ? `${api}/queue?wait=${LONG_POLL_SECS}` : `${api}/queue`;
        r = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
        if (r.status === 403 && !joined) {
          joined = true;
          r = await join();
        }
      } catch (e) {
        showError('Connection lost; retrying…');
        await wait(3000);
        continue;
      }
      if (r.status === 429 || r.status === 503) {
        showError('Busy right now; your place is kept. Retrying shortly…');
        await wait(retryAfter(r));
        continue;
      }
      if (r.status === 422) {
        joined = false; // a refused solution: fetch a new challenge and try again
        await wait(1000);
        continue;
      }
      const body = await r.json().catch(() => ({}));
      if (!r.ok) {
        showError(body.message || `Something went wrong (${r.status}).`);
        if (r.status === 409 || r.status === 404) return;
        await wait(5000);
        continue;
      }
      showError('');
      show(body);
      if (body.state === 'admitted' && body.admission) {
        location.assign(`/events/${event}/shop`);
        return;
      }
      if (body.state === 'expired' || body.sale_state === 'closed') return;
      const after = nextPoll(body);
      // Near the front (or the opening): ask again at once, on a long poll.
      longPoll = after === 0;
      if (after > 0) await wait(after);
    }
  }
  run();
})();
