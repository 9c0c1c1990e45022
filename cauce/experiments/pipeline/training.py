"""One training run from a loaded table to a fitted model, metrics and report files.

``training_run`` is what the runner calls; it knows nothing of Django models or MLflow. The
runner passes ``on_stage`` to learn when a step starts (it shows the stage to the user).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline

from cauce.core.exceptions import ApplicationError
from cauce.experiments.pipeline import reports
from cauce.experiments.pipeline.algorithms import CLASSIFICATION, algorithm_get
from cauce.experiments.pipeline.data import Split, training_data_prepare, training_split
from cauce.experiments.pipeline.evaluation import model_evaluate
from cauce.experiments.pipeline.metric_names import metrics_with_train
from cauce.experiments.pipeline.model import (
    feature_importances,
    feature_names,
    model_build,
    model_fit,
    permutation_importances,
)

STAGE_TRAINING = "training"
STAGE_EVALUATING = "evaluating"


@dataclass(frozen=True)
class TrainingSpec:
    target: str
    features: list[str]
    task_type: str
    algorithm: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    test_size: float = 0.2
    random_state: int = 42
    # Column kinds from the dataset's profile ({name: "numeric" | "text" | ...}), if known.
    column_kinds: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingResult:
    model: Pipeline
    split: Split
    # Measured on the test rows.
    metrics: dict[str, float]
    predictions: np.ndarray
    # The same metrics on the training rows (one prediction of them).
    train_metrics: dict[str, float]
    feature_names: list[str]
    # Everything worth keeping about the data: row counts, used and dropped columns...
    summary: dict[str, Any]
    # Paths relative to the output directory, e.g. "plots/confusion_matrix.png".
    files: list[str]

    @property
    def all_metrics(self) -> dict[str, float]:
        """What the run logs and the experiment keeps: test metrics and train_<name> ones."""
        return metrics_with_train(self.metrics, self.train_metrics)

    @property
    def plots(self) -> list[str]:
        return [path for path in self.files if path.startswith(f"{reports.PLOTS_DIR}/")]


def training_run(
    frame: pd.DataFrame,
    *,
    spec: TrainingSpec,
    output_dir: Path,
    on_stage: Callable[[str], None] | None = None,
) -> TrainingResult:
    """Prepare, split, fit, evaluate, and write the report files into ``output_dir``."""
    stage = on_stage or (lambda _stage: None)
    algorithm = algorithm_get(spec.algorithm)
    if algorithm.task_type != spec.task_type:
        raise ApplicationError(
            _("El algoritmo %(algorithm)s no sirve para una tarea de tipo «%(task)s».")
            % {"algorithm": algorithm.name, "task": spec.task_type}
        )
    data = training_data_prepare(
        frame,
        target=spec.target,
        features=spec.features,
        task_type=spec.task_type,
        kinds=spec.column_kinds,
    )
    split = training_split(
        data, test_size=spec.test_size, random_state=spec.random_state, task_type=spec.task_type
    )
    model = model_build(
        algorithm=algorithm,
        hyperparameters=spec.hyperparameters,
        groups=data.groups,
        random_state=spec.random_state,
    )

    stage(STAGE_TRAINING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model_fit(model, split.x_train, split.y_train)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)

    stage(STAGE_EVALUATING)
    evaluation = model_evaluate(model, split.x_test, split.y_test, task_type=spec.task_type)
    train_evaluation = model_evaluate(model, split.x_train, split.y_train, task_type=spec.task_type)
    names = feature_names(model)
    importances = feature_importances(model) or permutation_importances(
        model, split.x_test[data.groups.used], split.y_test, random_state=spec.random_state
    )

    files = _report_write(output_dir, spec, split, evaluation.predictions, evaluation.classes)
    prediction_rows = reports.predictions_write(
        output_dir / reports.TEST_PREDICTIONS, split.x_test, split.y_test, evaluation.predictions
    )
    files.append(reports.TEST_PREDICTIONS)
    reports.feature_importance_plot(
        output_dir / reports.FEATURE_IMPORTANCE, importances.values, method=importances.method
    )
    reports.feature_importance_write(
        output_dir / reports.FEATURE_IMPORTANCE_CSV, importances.to_frame()
    )
    files += [reports.FEATURE_IMPORTANCE, reports.FEATURE_IMPORTANCE_CSV]

    summary = {
        "task_type": spec.task_type,
        "algorithm": algorithm.name,
        "target": spec.target,
        "metrics": evaluation.metrics,
        "train_metrics": train_evaluation.metrics,
        "rows_total": data.rows_total,
        "rows_dropped_missing_target": data.rows_dropped_missing_target,
        "rows_train": len(split.x_train),
        "rows_test": len(split.x_test),
        "rows_in_test_predictions": prediction_rows,
        "stratified_split": split.stratified,
        "numeric_columns": data.groups.numeric,
        "categorical_columns": data.groups.categorical,
        "dropped_columns": data.groups.dropped,
        "transformed_features": names,
        "feature_importance_method": importances.method,
        "classes": evaluation.classes,
        "converged": converged,
    }
    reports.summary_write(output_dir / reports.METRICS_JSON, summary)
    files.append(reports.METRICS_JSON)
    return TrainingResult(
        model=model,
        split=split,
        metrics=evaluation.metrics,
        predictions=evaluation.predictions,
        train_metrics=train_evaluation.metrics,
        feature_names=names,
        summary=summary,
        files=files,
    )


def _report_write(
    output_dir: Path, spec: TrainingSpec, split: Split, predictions: np.ndarray, classes: list
) -> list[str]:
    if spec.task_type == CLASSIFICATION:
        reports.confusion_matrix_plot(
            output_dir / reports.CONFUSION_MATRIX, split.y_test, predictions, classes
        )
        plot = reports.CONFUSION_MATRIX
    else:
        reports.residuals_plot(output_dir / reports.RESIDUALS, split.y_test, predictions)
        plot = reports.RESIDUALS
    return [plot]
