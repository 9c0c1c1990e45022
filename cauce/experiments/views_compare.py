"""The "Comparar" page: 2 to 500 experiments side by side, its CSV, and its charts.

The address holds everything (ids, baseline, sort, rows shown, chart axes), so a comparison
can be bookmarked and shared; the page's script only filters what is already drawn.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from cauce.core.csv import csv_write
from cauce.core.exceptions import ApplicationError
from cauce.experiments import comparison
from cauce.experiments.compare_charts import (
    MAX_CHART_RUNS,
    Point,
    as_number,
    number_full,
    number_short,
    parallel_svg,
    scatter_svg,
)
from cauce.experiments.comparison import ComparedExperiment, Comparison, Row

# Parallel coordinates stay readable with this many param axes (the varying ones first).
MAX_PARALLEL_PARAMS = 12
# Params the runner logs as bookkeeping (``runner.experiment_mlflow_params`` and the split's
# ``runner._split_params``), not hyperparameters: no axis of the parallel coordinates.
BOOKKEEPING_PARAMS = frozenset(
    {
        "dataset_id",
        "dataset_version",
        "dataset_digest",
        "rows_total",
        "rows_dropped_missing_target",
        "rows_train",
        "rows_test",
        "stratified_split",
    }
)


@dataclass(frozen=True)
class Cell:
    id: str  # the experiment's, for the column
    text: str
    full: str
    delta_text: str = ""
    delta_full: str = ""
    # better, worse or same (metrics and timings against the baseline)
    verdict: str = ""


@dataclass(frozen=True)
class Options:
    show_all: bool
    sort: str
    descending: bool
    x: str
    y: str
    metric: str
    log_axes: frozenset[str]


def _options(request, result: Comparison) -> Options:
    numeric = _numeric_names(result)
    main = result.baseline.experiment.main_metric_name
    default_metric = main if main in result.metric_names else next(iter(result.metric_names), "")
    default_x = next((name for name in result.varying if name in numeric), default_metric)

    def chosen(key: str, default: str) -> str:
        value = request.GET.get(key, "")
        return value if value in numeric else default

    sort = request.GET.get("sort", "")
    metric = request.GET.get("metric", "")
    metrics = {*result.metric_names, *result.timing_names}
    return Options(
        show_all=request.GET.get("all") == "1",
        sort=sort if sort in metrics else "",
        descending=request.GET.get("dir") != "asc",
        x=chosen("x", default_x),
        y=chosen("y", default_metric),
        metric=metric if metric in metrics else default_metric,
        log_axes=frozenset(request.GET.getlist("log")) & set(numeric),
    )


def _numeric_names(result: Comparison) -> list[str]:
    """Params whose every value is a number, then metrics and timings: the charts' axes."""
    params = [
        name
        for name in result.param_names
        if all(
            as_number(item.params[name]) is not None
            for item in result.experiments
            if name in item.params
        )
    ]
    return [*params, *result.metric_names, *result.timing_names]


def _points(result: Comparison, names: list[str]) -> list[Point]:
    points = []
    for item in result.experiments:
        values = {name: as_number(item.params.get(name)) for name in result.param_names}
        values.update({name: item.metrics.get(name) for name in item.metrics})
        points.append(
            Point(
                id=str(item.id),
                name=item.experiment.name,
                values={name: values.get(name) for name in names},
                baseline=item.id == result.baseline_id,
            )
        )
    return points


def _verdict(delta: float | None, higher_is_better: bool) -> str:
    if delta is None:
        return ""
    if delta == 0:
        return "same"
    return "better" if (delta > 0) == higher_is_better else "worse"


def _cells(row: Row, ids: list[str]) -> list[Cell]:
    if row.section not in ("metric", "timing"):
        return [
            Cell(id, "—" if value is None else str(value), "" if value is None else str(value))
            for id, value in zip(ids, row.values, strict=True)
        ]
    cells = []
    for id, value, delta in zip(ids, row.values, row.deltas, strict=True):
        signed = "" if delta is None else ("+" if delta > 0 else "") + number_short(delta)
        cells.append(
            Cell(
                id,
                number_short(value),
                number_full(value),
                signed,
                number_full(delta),
                _verdict(delta, row.higher_is_better),
            )
        )
    return cells


SECTION_TITLES = {
    "general": lambda: _("Experimento"),
    "param": lambda: _("Parámetros"),
    "metric": lambda: _("Métricas"),
    "timing": lambda: _("Duración por etapa (s)"),
    "tag": lambda: _("Etiquetas de MLflow"),
}


def _query(result: Comparison, options: Options, **changes: Any) -> str:
    values: dict[str, Any] = {
        "ids": ",".join(str(item.id) for item in result.experiments),
        "baseline": str(result.baseline_id),
        "all": "1" if options.show_all else "",
        "sort": options.sort,
        "dir": "asc" if not options.descending else "",
        "x": options.x,
        "y": options.y,
        "metric": options.metric,
        "log": sorted(options.log_axes),
    }
    values.update(changes)
    return urlencode({key: value for key, value in values.items() if value}, doseq=True)


def _load(request) -> Comparison:
    ids = comparison.compare_ids_parse(request.GET.getlist("ids"))
    baseline = comparison.baseline_parse(request.GET.get("baseline"), ids=ids)
    return comparison.experiments_compare(user=request.user, ids=ids, baseline_id=baseline)


def _plots_links(order: list[ComparedExperiment]) -> list[tuple[str, str]]:
    """(path, link to the artifact comparison) of each plot the runs logged, when all the
    experiments are of one project (that page compares within a project)."""
    with_runs = [item.experiment for item in order if item.experiment.mlflow_run_id]
    if len(with_runs) < 2 or len({item.project_id for item in with_runs}) != 1:
        return []
    paths = list(dict.fromkeys(path for item in with_runs for path in item.plots or []))
    base = reverse("artifacts:compare", args=[with_runs[0].project_id])
    experiments = [("experiments", str(item.pk)) for item in with_runs]
    return [(path, f"{base}?{urlencode([*experiments, ('path', path)])}") for path in paths]


def _address(ids: list[str]) -> str:
    return f"{reverse('experiments:ml_experiment_compare')}?{urlencode({'ids': ','.join(ids)})}"


@login_required
@require_http_methods(["GET", "POST"])
def ml_experiment_compare(request):
    if request.method == "POST":
        # The lists' checkboxes without JavaScript: they belong to the bulk tagging form,
        # whose CSRF token must not reach an address people bookmark and share; the
        # comparison's own address holds the selection only.
        return redirect(_address(request.POST.getlist("experiments")))
    if "experiments" in request.GET and "ids" not in request.GET:
        # The same form's former GET submission (old bookmarks): the address's own shape.
        return redirect(_address(request.GET.getlist("experiments")))
    try:
        result = _load(request)
    except ApplicationError as error:
        context = {"error": error.message, "max": comparison.MAX_COMPARED}
        template = "experiments/experiment_compare.html"
        return render(request, template, context, status=error.status_code)
    options = _options(request, result)
    order = comparison.comparison_sort(result, metric=options.sort, descending=options.descending)
    rows = comparison.comparison_rows(result, order=order)
    shown = [row for row in rows if options.show_all or row.differs]
    ids = [str(item.id) for item in order]
    sections: list[tuple[str, list[dict[str, Any]]]] = []
    for row in shown:
        if not sections or sections[-1][0] != row.section:
            sections.append((row.section, []))
        sort_query = ""
        if row.deltas:
            ascending = options.sort == row.name and options.descending
            sort_query = _query(result, options, sort=row.name, dir="asc" if ascending else "")
        sections[-1][1].append({"row": row, "cells": _cells(row, ids), "sort": sort_query})
    numeric = _numeric_names(result)
    parallel_axes = [
        name for name in result.varying if name in numeric and name not in BOOKKEEPING_PARAMS
    ][:MAX_PARALLEL_PARAMS]
    if options.metric and options.metric not in parallel_axes:
        parallel_axes.append(options.metric)
    points = _points(result, numeric)
    charted = points[:MAX_CHART_RUNS]
    missing = [
        name
        for name in dict.fromkeys([options.x, options.y])
        if name and any(point.values.get(name) is None for point in charted)
    ]
    context = {
        "result": result,
        "order": order,
        "options": options,
        "sections": [(SECTION_TITLES[name](), name, items) for name, items in sections],
        "hidden_rows": len(rows) - len(shown),
        "numeric": numeric,
        "metrics": [*result.metric_names, *result.timing_names],
        "query": _query(result, options),
        "columns": [
            (item, _query(result, options, baseline=str(item.id)), item.id == result.baseline_id)
            for item in order
        ],
        "scatter": scatter_svg(
            points=points,
            x=options.x,
            y=options.y,
            title=_("%(y)s frente a %(x)s") % {"x": options.x, "y": options.y},
            log_axes=options.log_axes,
        )
        if options.x and options.y
        else None,
        "parallel": parallel_svg(
            points=points,
            axes=parallel_axes,
            log_axes=set(options.log_axes),
            title=_("Coordenadas paralelas"),
        )
        if len(parallel_axes) >= 2
        else None,
        "parallel_axes": parallel_axes,
        # The scatter draws the experiments having both axes; the caption says what it left out.
        "scatter_total": len(charted),
        "scatter_drawn": sum(
            1
            for point in charted
            if point.values.get(options.x) is not None and point.values.get(options.y) is not None
        ),
        "scatter_missing": _(" o ").join(f"«{name}»" for name in missing),
        # The axes a log scale can be asked for: the scatter's and the parallel coordinates'.
        "log_choices": [
            name for name in dict.fromkeys([options.x, options.y, *parallel_axes]) if name
        ],
        "max_chart_runs": MAX_CHART_RUNS,
        "plots": _plots_links(order),
    }
    return render(request, "experiments/experiment_compare.html", context)


@login_required
@require_GET
def ml_experiment_compare_csv(request):
    """The table as CSV (every row, the page's column order), formula-safe."""
    try:
        result = _load(request)
    except ApplicationError as error:
        return HttpResponse(str(error.message), status=error.status_code, content_type="text/plain")
    options = _options(request, result)
    order = comparison.comparison_sort(result, metric=options.sort, descending=options.descending)
    rows = comparison.comparison_rows(result, order=order)
    baseline_name = result.baseline.experiment.name
    records = [[_("Sección"), _("Fila"), *(str(item.id) for item in order)]]
    records.append(["", _("Nombre"), *(item.experiment.name for item in order)])
    for row in rows:
        if not (options.show_all or row.differs):
            continue
        records.append([row.section, row.name, *("" if v is None else v for v in row.values)])
        if row.deltas:
            label = _("%(name)s menos %(baseline)s") % {"name": row.name, "baseline": baseline_name}
            records.append(
                [f"{row.section}_delta", label, *("" if v is None else v for v in row.deltas)]
            )
    frame = pd.DataFrame(records[1:], columns=records[0])
    handle = io.StringIO()
    csv_write(frame, handle)
    response = HttpResponse(handle.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="comparacion.csv"'
    return response
