// Experiment lists: "Comparar" opens the comparison of the marked experiments at its own
// address (/experiments/compare/?ids=a,b,...). Without JavaScript the button posts the
// marked boxes (with the form's CSRF token) and the server redirects to the same address.
(function () {
  "use strict";

  function setup() {
    var button = document.querySelector("button[data-compare]");
    if (!button) return;
    button.addEventListener("click", function (event) {
      var ids = Array.prototype.slice
        .call(document.querySelectorAll("input[data-select]:checked"))
        .map(function (box) { return box.value; });
      event.preventDefault();
      window.location.assign(button.getAttribute("formaction") + "?ids=" + ids.join(","));
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
