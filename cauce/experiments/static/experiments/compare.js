// The "Comparar" page: its controls apply at once, and dragging over an axis of the
// parallel coordinates keeps only the experiments inside the dragged ranges, in the chart
// and in the table. Without JavaScript the form's "Aplicar" button does the same work
// (except the brushing), on the server.
(function () {
  "use strict";

  function autosubmit(form) {
    form.addEventListener("change", function (event) {
      if (event.target.matches("select, input[type=checkbox]")) form.requestSubmit();
    });
  }

  function svgY(svg, clientY) {
    var point = svg.createSVGPoint();
    point.x = 0;
    point.y = clientY;
    return point.matrixTransform(svg.getScreenCTM().inverse()).y;
  }

  function brushing(svg) {
    var axes = Array.prototype.slice.call(svg.querySelectorAll(".pc-axis"));
    var lines = Array.prototype.slice.call(svg.querySelectorAll(".pc-line"));
    var ranges = {}; // axis index -> [top, bottom] in pixels
    var status = document.querySelector("[data-brush-status]");
    var clear = document.querySelector("[data-brush-clear]");
    var table = document.querySelector("[data-compare-table]");
    // What the status counts is what the table shows: an item without a line (a sweep's
    // failed or pruned trial) is in the table and the brush hides it too.
    var total = lines.length;
    if (table) {
      var ids = {};
      table.querySelectorAll("[data-col]").forEach(function (cell) { ids[cell.dataset.col] = true; });
      total = Object.keys(ids).length;
    }

    function apply() {
      var active = Object.keys(ranges);
      var kept = {};
      lines.forEach(function (line) {
        var ys = line.dataset.ys.split(",");
        var inside = active.every(function (index) {
          var y = parseFloat(ys[index]);
          return !isNaN(y) && y >= ranges[index][0] && y <= ranges[index][1];
        });
        line.classList.toggle("dimmed", !inside);
        if (inside) kept[line.dataset.id] = true;
      });
      document.querySelectorAll(".compare-chart .point").forEach(function (point) {
        point.classList.toggle("dimmed", active.length > 0 && !kept[point.dataset.id]);
      });
      if (table) {
        table.querySelectorAll("[data-col]").forEach(function (cell) {
          cell.classList.toggle("is-filtered", active.length > 0 && !kept[cell.dataset.col]);
        });
      }
      var shown = Object.keys(kept).length;
      if (status) {
        status.hidden = active.length === 0;
        status.textContent = status.dataset.template
          .replace("{shown}", String(shown)).replace("{total}", String(total));
      }
      if (clear) clear.hidden = active.length === 0;
    }

    axes.forEach(function (axis) {
      var area = axis.querySelector(".brush-area");
      var brush = axis.querySelector(".brush");
      var top = parseFloat(axis.dataset.top);
      var bottom = parseFloat(axis.dataset.bottom);
      var start = null;

      function draw(a, b) {
        var low = Math.max(top, Math.min(a, b));
        var high = Math.min(bottom, Math.max(a, b));
        brush.setAttribute("y", String(low));
        brush.setAttribute("height", String(Math.max(0, high - low)));
        return [low, high];
      }

      area.addEventListener("pointerdown", function (event) {
        start = svgY(svg, event.clientY);
        area.setPointerCapture(event.pointerId);
        draw(start, start);
        event.preventDefault();
      });
      area.addEventListener("pointermove", function (event) {
        if (start === null) return;
        draw(start, svgY(svg, event.clientY));
      });
      area.addEventListener("pointerup", function (event) {
        if (start === null) return;
        var range = draw(start, svgY(svg, event.clientY));
        start = null;
        if (range[1] - range[0] < 2) delete ranges[axis.dataset.axis];
        else ranges[axis.dataset.axis] = range;
        apply();
      });
    });

    if (clear) {
      clear.addEventListener("click", function () {
        ranges = {};
        axes.forEach(function (axis) { axis.querySelector(".brush").setAttribute("height", "0"); });
        apply();
      });
    }
  }

  function bindParallel() {
    var parallel = document.querySelector("svg[data-parallel]");
    if (parallel && !parallel.dataset.brushing) {
      parallel.dataset.brushing = "1";
      brushing(parallel);
    }
  }

  function setup() {
    var form = document.querySelector("form[data-autosubmit]");
    if (form) autosubmit(form);
    bindParallel();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
  // A sweep's page renders its chart again (htmx, out of band) when its trials change.
  document.addEventListener("htmx:load", bindParallel);
})();
