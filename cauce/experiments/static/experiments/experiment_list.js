// Experiment lists: "select all on this page" and the count of checked experiments.
// Without JavaScript each checkbox still works on its own.
(function () {
  "use strict";

  function setup() {
    var all = document.querySelector("[data-select-all]");
    var boxes = Array.prototype.slice.call(document.querySelectorAll("input[data-select]"));
    var counter = document.querySelector("[data-selected-count]");
    if (!boxes.length) {
      if (all) all.disabled = true;
      return;
    }

    function refresh() {
      var checked = boxes.filter(function (box) { return box.checked; }).length;
      if (all) {
        all.checked = checked === boxes.length;
        all.indeterminate = checked > 0 && checked < boxes.length;
      }
      if (counter) {
        counter.textContent = checked
          ? counter.dataset.some.replace("{count}", String(checked))
          : counter.dataset.none;
      }
    }

    if (all) {
      all.addEventListener("change", function () {
        boxes.forEach(function (box) { box.checked = all.checked; });
        refresh();
      });
    }
    boxes.forEach(function (box) { box.addEventListener("change", refresh); });
    refresh();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
