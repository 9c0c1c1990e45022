// A form with data-confirm="question" asks before it is sent (no inline onsubmit: the
// Content Security Policy forbids inline handlers).
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
})();
