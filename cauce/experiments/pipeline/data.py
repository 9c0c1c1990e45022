"""From a loaded table to the rows and columns a model trains on: checks, cleaning, split.

Plain functions (no ORM, no request). Every problem a user can fix is an ApplicationError
with a Spanish message that names the column or the number involved.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import type_of_target

from cauce.core.exceptions import ApplicationError
from cauce.datasets.inference import column_kind
from cauce.experiments.pipeline.algorithms import CLASSIFICATION, REGRESSION

# Fewer rows than this (after dropping rows without a target) cannot be split and evaluated.
MIN_ROWS = 5

NUMERIC = "numeric"
CATEGORICAL = "categorical"
DATETIME = "datetime"


@dataclass(frozen=True)
class ColumnGroups:
    """Feature columns by how they are preprocessed.

    ``categorical`` holds text, categorical and boolean columns (one-hot encoded).
    ``dropped`` holds datetime columns and columns with no value at all: they are left out
    of the model (see ``feature_columns_group``).
    """

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @property
    def used(self) -> list[str]:
        return [*self.numeric, *self.categorical]


@dataclass(frozen=True)
class TrainingData:
    features: pd.DataFrame
    target: pd.Series
    groups: ColumnGroups
    rows_total: int
    rows_dropped_missing_target: int


@dataclass(frozen=True)
class Split:
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    stratified: bool


def training_columns_check(*, columns: Iterable[str], target: str, features: list[str]) -> None:
    """Raise a readable error when the target or a feature is not among ``columns``."""
    available = set(columns)
    if not target:
        raise ApplicationError(_("Falta la columna objetivo."))
    if target not in available:
        raise ApplicationError(
            _("La columna objetivo «%(column)s» no está en el conjunto de datos.")
            % {"column": target}
        )
    if target in features:
        raise ApplicationError(
            _("La columna objetivo «%(column)s» no puede ser también una columna de entrada.")
            % {"column": target}
        )
    missing = [name for name in features if name not in available]
    if missing:
        raise ApplicationError(
            ngettext(
                "La columna de entrada %(columns)s no está en el conjunto de datos.",
                "Las columnas de entrada %(columns)s no están en el conjunto de datos.",
                len(missing),
            )
            % {"columns": ", ".join(f"«{name}»" for name in missing)}
        )


def feature_columns_group(
    frame: pd.DataFrame, features: list[str], kinds: Mapping[str, str] | None = None
) -> ColumnGroups:
    """Sort features into numeric and categorical; leave out datetimes and empty columns.

    ``kinds`` are the columns' kinds as the upload's profile found them (same parsing, whole
    file): a text column is then not scanned again (a regex over every value).

    Datetime columns are dropped rather than expanded into parts: the logged model must load
    anywhere with scikit-learn alone, and an expansion step would need Cauce's own code
    inside the pickled pipeline. Their names are reported (``dropped``) so the user sees it.
    """
    groups = ColumnGroups()
    for name in features:
        series = frame[name]
        if series.isna().all():
            groups.dropped.append(name)
            continue
        kind = (kinds or {}).get(name) or column_kind(series)
        if kind == NUMERIC:
            groups.numeric.append(name)
        elif kind == DATETIME:
            groups.dropped.append(name)
        else:
            groups.categorical.append(name)
    if not groups.used:
        raise ApplicationError(
            _(
                "Ninguna columna de entrada sirve para entrenar: las de fecha y las vacías "
                "se descartan (%(columns)s)."
            )
            % {"columns": ", ".join(groups.dropped)}
        )
    return groups


def training_data_prepare(
    frame: pd.DataFrame,
    *,
    target: str,
    features: list[str],
    task_type: str,
    kinds: Mapping[str, str] | None = None,
) -> TrainingData:
    """Check the columns, drop rows without a target and check the target suits the task.

    An empty ``features`` list means every column except the target.
    """
    features = list(features) or [name for name in frame.columns if name != target]
    training_columns_check(columns=frame.columns, target=target, features=features)
    has_target = frame[target].notna()
    rows_total = len(frame)
    # No copy of a large table when every row has a target.
    kept = frame if has_target.all() else frame.loc[has_target]
    if len(kept) < MIN_ROWS:
        raise ApplicationError(
            _(
                "Hay muy pocas filas con valor en la columna objetivo «%(column)s» "
                "(%(rows)d de %(total)d); se necesitan al menos %(minimum)d."
            )
            % {"column": target, "rows": len(kept), "total": rows_total, "minimum": MIN_ROWS}
        )
    target_values = kept[target]
    _target_check(target_values, target=target, task_type=task_type)
    return TrainingData(
        features=kept[features].reset_index(drop=True),
        target=target_values.reset_index(drop=True),
        groups=feature_columns_group(kept, features, kinds),
        rows_total=rows_total,
        rows_dropped_missing_target=int((~has_target).sum()),
    )


def _target_check(values: pd.Series, *, target: str, task_type: str) -> None:
    if task_type == REGRESSION:
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise ApplicationError(
                _(
                    "La columna objetivo «%(column)s» no es numérica: una regresión necesita "
                    "números. Elija una clasificación."
                )
                % {"column": target}
            )
        return
    if task_type != CLASSIFICATION:
        raise ApplicationError(_("Tipo de tarea desconocido: %s.") % task_type)
    if values.nunique() < 2:
        raise ApplicationError(
            _(
                "La columna objetivo «%(column)s» tiene una sola clase (%(value)s): "
                "una clasificación necesita al menos dos."
            )
            % {"column": target, "value": values.iloc[0]}
        )
    if type_of_target(values) == "continuous":
        raise ApplicationError(
            _(
                "La columna objetivo «%(column)s» tiene valores continuos: elija una "
                "regresión, o una columna con clases."
            )
            % {"column": target}
        )


def training_split(
    data: TrainingData, *, test_size: float, random_state: int, task_type: str
) -> Split:
    """Hold out ``test_size`` of the rows; stratified by class when every class allows it.

    Stratification needs at least two rows per class and room for each class on both sides;
    otherwise the split is plain random (``Split.stratified`` says which one was used).
    """
    if not 0 < test_size < 1:
        raise ApplicationError(
            _("La proporción de prueba debe estar entre 0 y 1 (sin incluirlos).")
        )
    rows = len(data.target)
    test_rows = math.ceil(test_size * rows)
    train_rows = rows - test_rows
    if test_rows < 1 or train_rows < 2:
        raise ApplicationError(
            _(
                "Con %(rows)d filas y una proporción de prueba de %(test_size)s no quedan "
                "filas suficientes para entrenar y evaluar."
            )
            % {"rows": rows, "test_size": test_size}
        )
    stratify = None
    if task_type == CLASSIFICATION:
        counts = data.target.value_counts()
        classes = len(counts)
        if counts.min() >= 2 and test_rows >= classes and train_rows >= classes:
            stratify = data.target
    x_train, x_test, y_train, y_test = train_test_split(
        data.features,
        data.target,
        test_size=test_size,
        random_state=random_state,
        stratify=stratify,
    )
    if task_type == CLASSIFICATION and y_train.nunique() < 2:
        raise ApplicationError(
            _(
                "El conjunto de entrenamiento quedó con una sola clase: añada filas de las "
                "otras clases o cambie la proporción de prueba."
            )
        )
    return Split(
        x_train=x_train,
        x_test=x_test,
        y_train=y_train,
        y_test=y_test,
        stratified=stratify is not None,
    )
