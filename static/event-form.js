// Event editor: "Add a tier" / "Add a block" append a blank row (the page already offers two
// spare rows, so the form works without this script).
(function () {
  "use strict";
  document.querySelectorAll("[data-add-row]").forEach(function (button) {
    button.addEventListener("click", function () {
      var body = document.querySelector("#" + button.dataset.addRow + " tbody");
      var last = body && body.lastElementChild;
      if (!last) return;
      var row = last.cloneNode(true);
      row.querySelectorAll("input").forEach(function (input) {
        input.value = "";
        input.readOnly = false;
      });
      body.appendChild(row);
      row.querySelector("input").focus();
    });
  });
})();
