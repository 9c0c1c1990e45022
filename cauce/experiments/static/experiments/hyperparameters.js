// A hyperparameter that takes a number or an option (max_depth: an integer or None) has a
// number input and a select under the same name; filling one in empties the other, so that
// the form sends one value. Delegated: the fields are drawn again when the algorithm changes.
(function () {
  "use strict";

  function onEdit(event) {
    var control = event.target;
    if (!control.closest || !control.value) return;
    var field = control.closest("[data-hyperparameter]");
    if (!field) return;
    field.querySelectorAll("input, select").forEach(function (other) {
      if (other !== control && other.name === control.name) other.value = "";
    });
  }

  document.addEventListener("input", onEdit);
  document.addEventListener("change", onEdit);
})();
