"""Files a run leaves behind: plots, test-set predictions and a metrics summary.

Plots are drawn on ``matplotlib.figure.Figure`` objects (Agg canvas), never through pyplot:
no display, no process-global figure state, safe in a worker thread.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, ScalarFormatter
from sklearn.metrics import confusion_matrix

from cauce.core.csv import csv_write
from cauce.core.values import json_safe

PLOTS_DIR = "plots"
DATA_DIR = "data"
CONFUSION_MATRIX = f"{PLOTS_DIR}/confusion_matrix.png"
RESIDUALS = f"{PLOTS_DIR}/residuals.png"
FEATURE_IMPORTANCE = f"{PLOTS_DIR}/feature_importance.png"
FEATURE_IMPORTANCE_CSV = f"{DATA_DIR}/feature_importance.csv"
TEST_PREDICTIONS = f"{DATA_DIR}/test_predictions.csv"
METRICS_JSON = "metrics.json"

# A scatter of more points draws for seconds and shows nothing more; the histogram uses all.
MAX_SCATTER_POINTS = 5000
# The predictions file holds the first rows of the (shuffled) test split: enough to look at
# and compare, not a copy of a large table written and uploaded on every run.
MAX_PREDICTION_ROWS = 10_000
# The importance plot shows the strongest features only; the CSV has them all.
MAX_FEATURES_PLOTTED = 20
MAX_CLASSES_ANNOTATED = 30
# Longer feature names are cut with an ellipsis on the plot (the CSV keeps them whole).
MAX_LABEL_CHARS = 40
# Points; at 100 dpi, 12 pt is ~16 px, the page's text being 15 px.
FONT_SIZE = 12
TRANSFORMER_PREFIXES = ("num__", "cat__")
IMPORTANCE_AXIS_LABELS = {
    "feature_importances_": "Importancia (reducción de impureza)",
    "abs_coef": "Importancia (|coeficiente|)",
    "permutation": "Importancia por permutación (caída de la puntuación)",
}


def _figure(width: float, height: float) -> Figure:
    # Constrained layout fits labels in the one draw savefig makes (bbox "tight" draws twice).
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _label_axes(axes, *, title: str, xlabel: str, ylabel: str = "") -> None:
    """Titles and ticks at ``FONT_SIZE``: the page shows plots at their own size."""
    axes.set_title(title, fontsize=FONT_SIZE + 1)
    axes.set_xlabel(xlabel, fontsize=FONT_SIZE)
    axes.set_ylabel(ylabel, fontsize=FONT_SIZE)
    axes.tick_params(labelsize=FONT_SIZE)


def tick_label(value: float, _position=None) -> str:
    """A plot's number as the plots' Spanish text writes it: 4 significant digits, a decimal
    comma. A PNG cannot follow each viewer's language: the plots are drawn once, in the
    project's default language (their titles are Spanish too)."""
    text = f"{value:.4g}"
    if "e" in text:
        text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text.replace(".", ",").replace("-", "\u2212")


def _decimal_comma(figure: Figure) -> None:
    """Every numeric axis (not the named ticks: classes, features) reads with tick_label."""
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            if isinstance(axis.get_major_formatter(), ScalarFormatter):
                axis.set_major_formatter(FuncFormatter(tick_label))


def _save(figure: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _decimal_comma(figure)
    figure.savefig(path, format="png")


def confusion_matrix_plot(
    path: Path, y_true: pd.Series, y_pred: np.ndarray, classes: list[Any]
) -> None:
    labels = list(classes) or sorted(set(y_true) | set(y_pred), key=str)
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    size = min(4 + 0.5 * len(labels), 16)
    figure = _figure(size, size)
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes).ax.tick_params(labelsize=FONT_SIZE)
    ticks = range(len(labels))
    names = [_label(str(label)) for label in labels]
    axes.set_xticks(ticks, names, rotation=45, ha="right")
    axes.set_yticks(ticks, names)
    _label_axes(
        axes,
        title="Matriz de confusión (conjunto de prueba)",
        xlabel="Predicción",
        ylabel="Valor real",
    )
    if len(labels) <= MAX_CLASSES_ANNOTATED:
        threshold = matrix.max() / 2 if matrix.size else 0
        for row in ticks:
            for column in ticks:
                value = matrix[row, column]
                axes.text(
                    column,
                    row,
                    str(value),
                    ha="center",
                    va="center",
                    color="white" if value > threshold else "black",
                    fontsize=FONT_SIZE,
                )
    _save(figure, path)


def residuals_plot(path: Path, y_true: pd.Series, y_pred: np.ndarray) -> None:
    y_pred = np.asarray(y_pred, dtype=float)
    residuals = np.asarray(y_true, dtype=float) - y_pred
    shown = np.arange(len(residuals))
    if len(shown) > MAX_SCATTER_POINTS:
        shown = np.random.default_rng(0).choice(shown, MAX_SCATTER_POINTS, replace=False)
    figure = _figure(10, 4.5)
    scatter, histogram = figure.subplots(1, 2)
    scatter.scatter(y_pred[shown], residuals[shown], s=14, alpha=0.7)
    scatter.axhline(0, color="grey", linewidth=1)
    title = "Residuos frente a predicción"
    if len(shown) < len(residuals):
        title += f" ({len(shown)} de {len(residuals)} filas)"
    _label_axes(
        scatter,
        title=title,
        xlabel="Predicción",
        ylabel="Residuo (real - predicción)",
    )
    histogram.hist(residuals, bins=min(30, max(5, len(residuals) // 3)), edgecolor="white")
    _label_axes(histogram, title="Distribución de los residuos", xlabel="Residuo", ylabel="Filas")
    _save(figure, path)


def _label(name: str) -> str:
    """A readable bar label: without the transformer's prefix, cut in the middle.

    Long names of one table often share their beginning (``sensor_temperature_3``,
    ``sensor_temperature_4``): the end is kept, so cut labels stay distinct.
    """
    for prefix in TRANSFORMER_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    if len(name) > MAX_LABEL_CHARS:
        tail = MAX_LABEL_CHARS // 3
        head = MAX_LABEL_CHARS - tail - 1
        name = name[:head] + "…" + name[-tail:]
    return name


def feature_importance_plot(path: Path, importances: pd.Series, *, method: str) -> None:
    """The ``MAX_FEATURES_PLOTTED`` strongest features, largest on top.

    Drawn to be shown at its own size (1000 px wide): at 100 dpi a 12 pt label is about
    16 px, no smaller than the page's text.
    """
    top = importances.head(MAX_FEATURES_PLOTTED)[::-1]
    labels = [_label(str(name)) for name in top.index]
    figure = _figure(10, max(3.0, 0.42 * len(top) + 1.6))
    axes = figure.subplots()
    axes.barh(range(len(top)), top.to_numpy(), color="#1b7a93")
    axes.set_yticks(range(len(top)), labels)
    title = "Importancia de las variables"
    if len(importances) > len(top):
        title += f" ({len(top)} de {len(importances)})"
    _label_axes(axes, title=title, xlabel=IMPORTANCE_AXIS_LABELS.get(method, "Importancia"))
    axes.margins(y=0.01)
    _save(figure, path)


def feature_importance_write(path: Path, frame: pd.DataFrame) -> None:
    """The importances by feature; the features (column names) made safe for spreadsheets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv_write(frame.rename_axis(frame.index.name or "").reset_index(), handle)


def _unique_name(name: str, taken: pd.Index) -> str:
    while name in taken:
        name = f"_{name}"
    return name


def predictions_write(path: Path, x_test: pd.DataFrame, y_test: pd.Series, y_pred) -> int:
    """The held-out rows as the model saw them, with the real and the predicted value.

    At most ``MAX_PREDICTION_ROWS`` rows (the split is shuffled: a random sample); returns
    how many were written.
    """
    rows = min(len(x_test), MAX_PREDICTION_ROWS)
    frame = x_test.head(rows).reset_index(drop=True)
    frame[_unique_name("y_true", frame.columns)] = np.asarray(y_test)[:rows]
    frame[_unique_name("y_pred", frame.columns)] = np.asarray(y_pred)[:rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    # The dataset's own cells: a "=cmd|..." in them must not run in a spreadsheet.
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv_write(frame, handle)
    return rows


def summary_write(path: Path, summary: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(_json_ready(summary), ensure_ascii=False, indent=2, sort_keys=True),
        encoding="utf-8",
    )


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    return json_safe(value)
