// Autocompletion of a comma-separated tag field from the project's tags.
// A <datalist> suggests whole values, so for each input marked data-tag-input this keeps a
// datalist of its own whose options are "<tags already typed>, <a project tag>".
(function () {
  "use strict";

  function setup() {
    var source = document.getElementById("tag-options");
    if (!source) return;
    var names = Array.prototype.map.call(source.options, function (option) { return option.value; });

    document.querySelectorAll("input[data-tag-input]").forEach(function (input) {
      var list = document.createElement("datalist");
      list.id = input.id + "-suggestions";
      input.after(list);
      input.setAttribute("list", list.id);

      function refresh() {
        var parts = input.value.split(",");
        var typed = parts.pop().trim().toLocaleLowerCase();
        var chosen = parts.map(function (part) { return part.trim(); }).filter(Boolean);
        var taken = chosen.map(function (part) { return part.toLocaleLowerCase(); });
        var prefix = chosen.length ? chosen.join(", ") + ", " : "";
        list.replaceChildren();
        names.forEach(function (name) {
          var key = name.toLocaleLowerCase();
          if (taken.indexOf(key) !== -1 || (typed && key.indexOf(typed) === -1)) return;
          var option = document.createElement("option");
          option.value = prefix + name;
          list.appendChild(option);
        });
      }

      input.addEventListener("input", refresh);
      input.addEventListener("focus", refresh);
      refresh();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
