// Event page: counts down to the sale's opening, then reloads to show the sale open.
(function () {
  "use strict";
  var el = document.getElementById("opens-countdown");
  if (!el) return;
  var opens = Date.parse(el.dataset.opens);
  if (isNaN(opens)) return;
  function pad(n) { return String(n).padStart(2, "0"); }
  function tick() {
    var left = Math.max(0, Math.floor((opens - Date.now()) / 1000));
    if (left === 0) {
      el.textContent = "The sale is opening…";
      // A little later than the opening, spread out so every open page does not reload at once.
      setTimeout(function () { location.reload(); }, 1000 + Math.random() * 4000);
      return;
    }
    var d = Math.floor(left / 86400), h = Math.floor(left % 86400 / 3600), m = Math.floor(left % 3600 / 60), s = left % 60;
    el.textContent = "Opens in " + (d > 0 ? d + " d " : "") + pad(h) + ":" + pad(m) + ":" + pad(s);
    setTimeout(tick, 1000 - Date.now() % 1000);
  }
  tick();
})();
