// Live dashboard: polls the event's numbers every 2 s, updates the figures and tiers, and draws
// admissions and sales per minute over time. The series is kept in sessionStorage, so a reload
// does not lose what the page has already seen (it starts when the dashboard is first opened).
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root) return;
  var event = root.dataset.event;
  var POLL_MS = 2000, WINDOW_MS = 15 * 60 * 1000, KEY = "fg-dash-" + event;
  var samples = [];
  try { samples = JSON.parse(sessionStorage.getItem(KEY) || "[]"); } catch (e) { samples = []; }

  function set(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = value;
  }
  function money(cents) {
    var abs = Math.abs(cents), whole = Math.floor(abs / 100).toLocaleString("en-US");
    return (cents < 0 ? "-" : "") + "$" + whole + "." + String(abs % 100).padStart(2, "0");
  }
  var LABELS = { scheduled: "On sale soon", on_sale: "On sale", paused: "Paused", sold_out: "Sold out", closed: "Sale closed" };

  function show(s) {
    set("k-waiting", s.waiting.toLocaleString("en-US"));
    set("k-rate", Math.round(s.admission_rate_per_minute));
    set("k-active", s.active_shoppers);
    set("k-sold", s.sold.toLocaleString("en-US"));
    set("k-held", s.held);
    set("k-available", s.available.toLocaleString("en-US"));
    set("k-revenue", money(s.revenue_cents));
    set("k-orders", s.orders);
    set("k-rejected", s.rejected_rate_limited + s.rejected_not_admitted + s.rejected_pow);
    set("k-rl", s.rejected_rate_limited);
    set("k-na", s.rejected_not_admitted);
    set("k-pow", s.rejected_pow);
    var badge = document.getElementById("state-badge");
    if (badge && LABELS[s.state]) {
      badge.textContent = LABELS[s.state];
      badge.className = "badge badge-" + s.state;
    }
    s.tiers.forEach(function (t) {
      var row = document.querySelector('#tiers tr[data-tier="' + CSS.escape(t.id) + '"]');
      if (!row) return;
      row.querySelector('[data-k="sold"]').textContent = t.sold;
      row.querySelector('[data-k="held"]').textContent = t.held;
      row.querySelector('[data-k="available"]').textContent = t.available;
      var bar = row.querySelector('[data-k="bar"]');
      bar.max = Math.max(1, t.capacity);
      bar.value = t.sold;
      bar.setAttribute("aria-label", t.sold + " of " + t.capacity + " sold");
      bar.nextElementSibling.textContent = t.sold + " of " + t.capacity;
    });
  }

  // Per-minute rates over a trailing window: between each sample and the newest one at least
  // RATE_WINDOW_MS older (a 2 s difference alone would turn a single order into a spike).
  var RATE_WINDOW_MS = 30000;
  function rates() {
    var out = [], j = 0;
    for (var i = 1; i < samples.length; i++) {
      var b = samples[i];
      while (j + 1 < i && b.t - samples[j + 1].t >= RATE_WINDOW_MS) j++;
      var a = samples[j], dt = (b.t - a.t) / 60000;
      if (dt <= 0) continue;
      out.push({ t: b.t, admit: Math.max(0, b.admitted - a.admitted) / dt, sold: Math.max(0, b.sold - a.sold) / dt });
    }
    return out;
  }

  function draw() {
    var svg = document.getElementById("chart");
    var points = rates();
    if (!svg || points.length < 2) return;
    var W = 600, H = 160, PAD = 24;
    var t0 = points[0].t, t1 = points[points.length - 1].t, span = Math.max(1, t1 - t0);
    var top = 1;
    points.forEach(function (p) { top = Math.max(top, p.admit, p.sold); });
    function x(t) { return PAD + (W - 2 * PAD) * (t - t0) / span; }
    function y(v) { return H - PAD - (H - 2 * PAD) * v / top; }
    function line(k) {
      return points.map(function (p) { return x(p.t).toFixed(1) + "," + y(p[k]).toFixed(1); }).join(" ");
    }
    var NS = "http://www.w3.org/2000/svg";
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    function add(tag, attrs, text) {
      var el = document.createElementNS(NS, tag);
      Object.keys(attrs).forEach(function (k) { el.setAttribute(k, attrs[k]); });
      if (text) el.textContent = text;
      svg.appendChild(el);
    }
    add("line", { x1: PAD, y1: H - PAD, x2: W - PAD, y2: H - PAD, class: "axis" });
    add("line", { x1: PAD, y1: PAD, x2: W - PAD, y2: PAD, class: "grid" });
    add("text", { x: PAD, y: PAD - 6, class: "tick" }, Math.round(top) + "/min");
    add("text", { x: PAD, y: H - 6, class: "tick" }, new Date(t0).toLocaleTimeString());
    add("text", { x: W - PAD, y: H - 6, class: "tick", "text-anchor": "end" }, new Date(t1).toLocaleTimeString());
    add("polyline", { points: line("admit"), class: "series-admit" });
    add("polyline", { points: line("sold"), class: "series-sold" });
    set("chart-span", "· last " + Math.max(1, Math.round(span / 60000)) + " min");
  }

  function poll() {
    // A hidden tab asks nothing; the series resumes when it is shown again.
    if (document.hidden) { setTimeout(poll, POLL_MS); return; }
    fetch("/organizer/events/" + event + "/stats", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) { window.location = "/organizer"; throw new Error("logged out"); }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (s) {
        show(s);
        var now = Date.now();
        samples.push({ t: now, admitted: s.admitted_total, sold: s.sold });
        samples = samples.filter(function (p) { return now - p.t <= WINDOW_MS; });
        try { sessionStorage.setItem(KEY, JSON.stringify(samples)); } catch (e) { /* full: keep in memory */ }
        draw();
        set("updated", "Live · updated " + new Date(now).toLocaleTimeString());
      })
      .catch(function (e) {
        set("updated", "Could not update (" + e.message + "); retrying…");
      })
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  draw();
  poll();
})();
