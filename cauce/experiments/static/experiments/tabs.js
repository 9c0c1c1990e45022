// Tabs of the experiment page: switch panels without a reload. Without JavaScript every
// panel stays visible, one after the other.
(function () {
  "use strict";

  function activate(group, name) {
    group.querySelectorAll("[data-tab]").forEach(function (tab) {
      var active = tab.dataset.tab === name;
      tab.classList.toggle("active", active);
      tab.setAttribute("aria-selected", active ? "true" : "false");
    });
    group.querySelectorAll("[data-panel]").forEach(function (panel) {
      panel.hidden = panel.dataset.panel !== name;
    });
  }

  document.addEventListener("click", function (event) {
    var tab = event.target.closest("[data-tab]");
    if (!tab) return;
    activate(tab.closest("[data-tabs]"), tab.dataset.tab);
    history.replaceState(null, "", "#" + tab.dataset.tab);
  });

  // A plot the run does not have (e.g. no feature importances) is left out, not shown broken.
  document.addEventListener("error", function (event) {
    var img = event.target;
    if (img.matches && img.matches("img[data-plot]")) img.closest("figure").hidden = true;
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-tabs]").forEach(function (group) {
      group.classList.add("js-tabs");
      var wanted = location.hash.slice(1);
      var tab = group.querySelector('[data-tab="' + CSS.escape(wanted) + '"]');
      if (tab) {
        tab.click();  // also starts the lazy load of a tab that has one
      } else {
        activate(group, group.querySelector("[data-tab]").dataset.tab);
      }
    });
  });
})();
