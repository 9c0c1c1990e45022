"""Versions of one model side by side: params, metrics (with the change from the previous
version), run tags and the input signature (columns added, removed or retyped)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cauce.experiments.metric_names import TIMING_PREFIX
from cauce.integrations.mlflow import MlflowNotFound
from cauce.integrations.mlflow import registry as mlflow_registry
from cauce.integrations.mlflow.registry import ModelSignature, ModelVersionInfo, RunData
from cauce.registry.models import RegisteredModel
from cauce.registry.selectors import _experiments_by_run

MAX_COMPARED = 8
# Cauce's bookkeeping in a run, shown apart from the model's own metrics and tags: the stage
# timings the worker logs, and the tags it syncs (tag_0.., all_tags, tag_count) or sets (cauce.*).
SYNCED_TAG = re.compile(r"^(tag_\d+|all_tags|tag_count|cauce\..*)$")


@dataclass(frozen=True)
class Cell:
    value: str | None
    changed: bool = False  # differs from the previous version's


@dataclass(frozen=True)
class MetricCell:
    value: float | None
    delta: float | None = None  # this value minus the previous version's


@dataclass(frozen=True)
class SignatureCell:
    type: str | None  # None: the version has no such input column
    change: str = ""  # "added", "removed", "retyped" against the previous version


@dataclass
class Comparison:
    versions: list[ModelVersionInfo]
    experiments: list = field(default_factory=list)
    params: list[tuple[str, list[Cell]]] = field(default_factory=list)
    metrics: list[tuple[str, list[MetricCell]]] = field(default_factory=list)
    timings: list[tuple[str, list[MetricCell]]] = field(default_factory=list)
    tags: list[tuple[str, list[Cell]]] = field(default_factory=list)
    cauce_tags: list[tuple[str, list[Cell]]] = field(default_factory=list)
    signature: list[tuple[str, list[SignatureCell]]] = field(default_factory=list)
    has_signature: list[bool] = field(default_factory=list)
    # Per version: False when its inputs differ from the previous version's (not for the first).
    compatible: list[bool | None] = field(default_factory=list)


def _text_rows(maps: list[dict[str, str]]) -> list[tuple[str, list[Cell]]]:
    keys = sorted({key for values in maps for key in values})
    rows = []
    for key in keys:
        cells = []
        for index, values in enumerate(maps):
            value = values.get(key)
            changed = index > 0 and value != maps[index - 1].get(key)
            cells.append(Cell(value=value, changed=changed))
        rows.append((key, cells))
    return rows


def _metric_rows(maps: list[dict[str, float]], first: str) -> list[tuple[str, list[MetricCell]]]:
    keys = sorted({key for values in maps for key in values}, key=lambda key: (key != first, key))
    rows = []
    for key in keys:
        cells = []
        for index, values in enumerate(maps):
            value = values.get(key)
            previous = maps[index - 1].get(key) if index > 0 else None
            delta = value - previous if value is not None and previous is not None else None
            cells.append(MetricCell(value=value, delta=delta))
        rows.append((key, cells))
    return rows


def _signature_rows(
    signatures: list[ModelSignature | None],
) -> tuple[list[tuple[str, list[SignatureCell]]], list[bool | None]]:
    types = [
        {column.name: column.type for column in signature.inputs} if signature else None
        for signature in signatures
    ]
    names: list[str] = []
    for columns in types:
        for name in columns or {}:
            if name not in names:
                names.append(name)
    rows = []
    for name in names:
        cells = []
        for index, columns in enumerate(types):
            kind = columns.get(name) if columns is not None else None
            previous = types[index - 1] if index > 0 else None
            change = ""
            if columns is not None and previous is not None:
                before = previous.get(name)
                if kind is not None and before is None:
                    change = "added"
                elif kind is None and before is not None:
                    change = "removed"
                elif kind != before:
                    change = "retyped"
            cells.append(SignatureCell(type=kind, change=change))
        rows.append((name, cells))
    compatible: list[bool | None] = []
    for index, columns in enumerate(types):
        previous = types[index - 1] if index > 0 else None
        if columns is None or previous is None:
            compatible.append(None)
        else:
            compatible.append(columns == previous)
    return rows, compatible


def _run_data(run_id: str) -> RunData:
    if not run_id:
        return RunData(run_id="", params={}, metrics={}, tags={})
    try:
        return mlflow_registry.run_data_get(run_id=run_id)
    except MlflowNotFound:
        return RunData(run_id=run_id, params={}, metrics={}, tags={})


def _signature(source: str) -> ModelSignature | None:
    try:
        return mlflow_registry.model_signature_get(source=source)
    except MlflowNotFound:
        return None


def versions_compare(*, model: RegisteredModel, versions: list[ModelVersionInfo]) -> Comparison:
    """Compare versions (already loaded), oldest first; reads each version's run and MLmodel."""
    versions = sorted(versions, key=lambda version: version.version)
    runs = [_run_data(version.run_id) for version in versions]
    signatures = [_signature(version.source) for version in versions]
    experiments = _experiments_by_run(
        pairs=[(model.project_id, version.run_id) for version in versions if version.run_id]
    )
    signature_rows, compatible = _signature_rows(signatures)
    metrics = _metric_rows([run.metrics for run in runs], model.main_metric)
    tags = _text_rows([run.tags for run in runs])
    return Comparison(
        versions=versions,
        experiments=[experiments.get((model.project_id, v.run_id)) for v in versions],
        params=_text_rows([run.params for run in runs]),
        metrics=[row for row in metrics if not row[0].startswith(TIMING_PREFIX)],
        timings=[row for row in metrics if row[0].startswith(TIMING_PREFIX)],
        tags=[row for row in tags if not SYNCED_TAG.match(row[0])],
        cauce_tags=[row for row in tags if SYNCED_TAG.match(row[0])],
        signature=signature_rows,
        has_signature=[signature is not None for signature in signatures],
        compatible=compatible,
    )
