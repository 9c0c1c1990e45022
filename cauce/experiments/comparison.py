"""Reads for comparing experiments side by side: params, metrics and tags of many runs.

Each run's data comes from MLflow in one ``runs/search`` per 100 runs; an experiment without a
run (a draft) or whose run MLflow no longer has shows what Cauce's database keeps of it.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.http import Http404
from django.utils.translation import gettext as _

from cauce.core.exceptions import ApplicationError
from cauce.experiments.metric_names import TIMING_PREFIX, metric_higher_is_better
from cauce.experiments.models import MLExperiment
from cauce.integrations.mlflow.runs import RunData, runs_data
from cauce.projects.selectors import projects_for_user

MIN_COMPARED = 2
MAX_COMPARED = 500
# The seed's mirror of Cauce's tags in MLflow (shown once, as the "Etiquetas" row).
_SEED_TAG_KEY = re.compile(r"tag_\d+|all_tags|tag_count")


def compare_ids_parse(values: Iterable[str]) -> list[uuid.UUID]:
    """The experiment ids of ``ids=a,b,c`` (and/or repeated), each once, in order.

    Raises ApplicationError (400) for a malformed id, fewer than 2 or more than 500."""
    ids: list[uuid.UUID] = []
    for text in values:
        for part in str(text).split(","):
            part = part.strip()
            if not part:
                continue
            try:
                ids.append(uuid.UUID(part))
            except ValueError:
                raise ApplicationError(
                    _("«%(id)s» no es un identificador de experimento válido.") % {"id": part[:64]},
                    {"ids": "invalid"},
                ) from None
    ids = list(dict.fromkeys(ids))
    if len(ids) < MIN_COMPARED:
        raise ApplicationError(
            _("Elija al menos %(min)d experimentos para compararlos.") % {"min": MIN_COMPARED},
            {"ids": "too_few"},
        )
    if len(ids) > MAX_COMPARED:
        raise ApplicationError(
            _("Se pueden comparar como mucho %(max)d experimentos a la vez (eligió %(count)d).")
            % {"max": MAX_COMPARED, "count": len(ids)},
            {"ids": "too_many"},
        )
    return ids


def baseline_parse(value: str | None, *, ids: list[uuid.UUID]) -> uuid.UUID:
    """The pinned experiment: the first when none is given; it must be one of ``ids``."""
    if not value:
        return ids[0]
    try:
        baseline = uuid.UUID(str(value).strip())
    except ValueError:
        baseline = None
    if baseline not in ids:
        raise ApplicationError(
            _("La referencia debe ser uno de los experimentos comparados."),
            {"baseline": "invalid"},
        )
    return baseline


@dataclass
class ComparedExperiment:
    experiment: MLExperiment
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    # False when the values come from Cauce's database (no run, or MLflow lost it).
    from_mlflow: bool

    @property
    def id(self) -> uuid.UUID:
        return self.experiment.pk

    @property
    def cauce_tags(self) -> list[str]:
        return sorted((tag.name for tag in self.experiment.tags.all()), key=str.casefold)


@dataclass(frozen=True)
class Row:
    """One line of the table: a value per experiment (None where it has none)."""

    section: str  # general, param, metric, timing, tag
    name: str
    values: list[Any]
    differs: bool
    # Metrics and timings: each value minus the baseline's, and whether higher is better.
    deltas: list[float | None] = field(default_factory=list)
    higher_is_better: bool = True


@dataclass
class Comparison:
    experiments: list[ComparedExperiment]
    baseline_id: uuid.UUID
    varying: list[str]
    deltas: dict[str, dict[str, float]]
    param_names: list[str]
    metric_names: list[str]
    timing_names: list[str]
    tag_names: list[str]

    @property
    def baseline(self) -> ComparedExperiment:
        return next(item for item in self.experiments if item.id == self.baseline_id)

    @property
    def project_ids(self) -> set[int]:
        return {item.experiment.project_id for item in self.experiments}


def _dataset_version_label(experiment: MLExperiment) -> str | None:
    """ "iris v2": two versions of one dataset differ in the table."""
    if experiment.dataset_version is None:
        return experiment.dataset.name if experiment.dataset else None
    return f"{experiment.dataset.name} v{experiment.dataset_version.version}"


def _differs(values: list[Any]) -> bool:
    return len({_key(value) for value in values}) > 1


def _key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _delta(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None:
        return None
    difference = value - reference
    return difference if math.isfinite(difference) else None


def _from_database(experiment: MLExperiment) -> tuple[dict, dict]:
    params = {name: str(value) for name, value in (experiment.hyperparameters or {}).items()}
    metrics = {name: float(value) for name, value in (experiment.metrics or {}).items()}
    for stage, seconds in (experiment.timings or {}).items():
        metrics[f"{TIMING_PREFIX}{stage}_s"] = float(seconds)
    return params, metrics


def _compared(experiment: MLExperiment, run: RunData | None) -> ComparedExperiment:
    if run is None:
        params, metrics = _from_database(experiment)
        return ComparedExperiment(experiment, params, metrics, {}, from_mlflow=False)
    tags = {key: value for key, value in run.tags.items() if not key.startswith("mlflow.")}
    return ComparedExperiment(experiment, run.params, run.metrics, tags, from_mlflow=True)


def experiments_compare(
    *, user: AbstractBaseUser, ids: list[uuid.UUID], baseline_id: uuid.UUID | None = None
) -> Comparison:
    """The experiments of ``ids`` side by side, in that order.

    Any id the user may not read (another project's, or none at all) is a 404, as everywhere;
    the projects may differ. ``MlflowUnavailable`` when MLflow cannot be read."""
    baseline_id = baseline_id or ids[0]
    found = {
        experiment.pk: experiment
        for experiment in MLExperiment.objects.filter(
            pk__in=ids, project__in=projects_for_user(user=user).values("pk")
        )
        .select_related("project", "dataset", "dataset_version")
        .prefetch_related("tags")
    }
    if len(found) != len(ids):
        raise Http404
    experiments = [found[pk] for pk in ids]
    with_runs = [item for item in experiments if item.mlflow_run_id]
    runs = runs_data(
        experiment_ids=sorted({item.mlflow_experiment_id for item in with_runs} - {""}),
        run_ids=[item.mlflow_run_id for item in with_runs],
    )
    compared = [_compared(item, runs.get(item.mlflow_run_id)) for item in experiments]

    param_names = sorted({name for item in compared for name in item.params})
    all_metrics = {name for item in compared for name in item.metrics}
    timing_names = sorted(name for name in all_metrics if name.startswith(TIMING_PREFIX))
    metric_names = sorted(all_metrics - set(timing_names))
    tag_names = sorted(
        {
            key
            for item in compared
            for key in item.tags
            if not _SEED_TAG_KEY.fullmatch(key) and not key.startswith("cauce.")
        }
    )
    varying = [
        name for name in param_names if _differs([item.params.get(name) for item in compared])
    ]
    reference = found[baseline_id]
    baseline_metrics = next(item.metrics for item in compared if item.experiment is reference)
    deltas = {
        str(item.id): {
            name: difference
            for name, value in item.metrics.items()
            if (difference := _delta(value, baseline_metrics.get(name))) is not None
        }
        for item in compared
    }
    return Comparison(
        experiments=compared,
        baseline_id=baseline_id,
        varying=varying,
        deltas=deltas,
        param_names=param_names,
        metric_names=metric_names,
        timing_names=timing_names,
        tag_names=tag_names,
    )


def comparison_sort(
    comparison: Comparison, *, metric: str, descending: bool
) -> list[ComparedExperiment]:
    """The baseline first (pinned), then the others by ``metric``; those without it last."""
    others = [item for item in comparison.experiments if item.id != comparison.baseline_id]
    if metric:
        having = [item for item in others if metric in item.metrics]
        missing = [item for item in others if metric not in item.metrics]
        having.sort(key=lambda item: item.metrics[metric], reverse=descending)
        others = having + missing
    return [comparison.baseline, *others]


def comparison_rows(comparison: Comparison, *, order: list[ComparedExperiment]) -> list[Row]:
    """Every row of the table, for ``order``'s columns (the baseline first): metrics, the
    experiment, params, timings, MLflow tags."""
    reference = comparison.baseline

    def general(name: str, values: list[Any]) -> Row:
        return Row("general", name, values, _differs(values))

    def measured(section: str, name: str) -> Row:
        values = [item.metrics.get(name) for item in order]
        base = reference.metrics.get(name)
        return Row(
            section,
            name,
            values,
            _differs(values),
            deltas=[_delta(value, base) for value in values],
            higher_is_better=metric_higher_is_better(name),
        )

    # The metrics first: they are why people compare.
    rows = [measured("metric", name) for name in comparison.metric_names]
    rows += [
        general(_("Proyecto"), [item.experiment.project.name for item in order]),
        general(_("Algoritmo"), [item.experiment.algorithm for item in order]),
        general(
            _("Conjunto de datos"), [_dataset_version_label(item.experiment) for item in order]
        ),
        general(_("Estado"), [item.experiment.get_status_display() for item in order]),
        general(_("Etiquetas"), [", ".join(item.cauce_tags) or None for item in order]),
    ]
    for name in comparison.param_names:
        values = [item.params.get(name) for item in order]
        rows.append(Row("param", name, values, _differs(values)))
    rows += [measured("timing", name) for name in comparison.timing_names]
    for name in comparison.tag_names:
        values = [item.tags.get(name) for item in order]
        rows.append(Row("tag", name, values, _differs(values)))
    return rows
