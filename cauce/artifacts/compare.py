"""One artifact path compared across the runs of several experiments of one project.

Images side by side, texts and JSON as diffs against the first run that has the file (JSON
normalized first: sorted keys, two-space indentation), CSVs as summaries side by side. Every
file is read with the same caps as a preview; a run without the file is marked, not skipped.
"""

from __future__ import annotations

import csv
import difflib
import json
import math
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from cauce.artifacts import previews
from cauce.artifacts.selectors import ArtifactEntry, artifact_entry, artifact_tree
from cauce.core.exceptions import NotFoundError
from cauce.experiments.models import MLExperiment
from cauce.projects.models import Project

CSV_FIRST_ROWS = 5
CSV_MAX_COLUMNS = 100
# A column with more distinct values than this is reported as "more than N".
DISTINCT_CAP = 1000
DIFF_MAX_LINES = 2000
DIFF_KINDS = {"text", "json", "yaml", "mlmodel", "markdown", "unknown"}


# --- which experiments and paths -------------------------------------------------------------


def compare_candidates(*, project: Project) -> QuerySet[MLExperiment]:
    """The project's experiments that have an MLflow run (only those have artifacts)."""
    return project.experiments.exclude(mlflow_run_id="").order_by("-created_at")


def compare_experiments_get(*, project: Project, ids: list[str]) -> list[MLExperiment]:
    """The experiments named by ``ids``, in that order; 404 if any is not of ``project``.

    A malformed id, an id of another project's experiment and an unknown id are all the
    same 404: nothing here tells an outsider which ids exist.
    """
    wanted: list[uuid.UUID] = []
    for raw in ids:
        try:
            value = uuid.UUID(str(raw))
        except ValueError as error:
            raise Http404 from error
        if value not in wanted:
            wanted.append(value)
    found = {e.pk: e for e in MLExperiment.objects.filter(project=project, pk__in=wanted)}
    if len(found) != len(wanted):
        raise Http404
    return [found[pk] for pk in wanted]


@dataclass(frozen=True)
class PathChoice:
    path: str
    count: int  # in how many of the runs the file exists


def compare_path_choices(*, experiments: list[MLExperiment]) -> list[PathChoice]:
    """Every file path of the runs' artifacts (their union), each with how many runs hold it."""
    counts: dict[str, int] = {}
    for experiment in experiments:
        for entry in artifact_tree(experiment=experiment):
            counts[entry.path] = counts.get(entry.path, 0) + 1
    return [PathChoice(path=p, count=counts[p]) for p in sorted(counts, key=str.lower)]


# --- results ---------------------------------------------------------------------------------


@dataclass
class ColumnSummary:
    name: str
    numeric: bool = True
    count: int = 0  # non-empty values
    total: float = 0.0
    minimum: float | None = None
    maximum: float | None = None
    distinct: set[str] = field(default_factory=set)
    distinct_capped: bool = False

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.numeric and self.count else None

    @property
    def distinct_count(self) -> int:
        return len(self.distinct)

    def add(self, value: str) -> None:
        value = value.strip()
        if value == "":
            return
        if not self.distinct_capped:
            self.distinct.add(value)
            if len(self.distinct) > DISTINCT_CAP:
                self.distinct_capped = True
        if not self.numeric:
            return
        try:
            number = float(value)
        except ValueError:
            self.numeric = False
            return
        if math.isnan(number):
            return
        self.count += 1
        self.total += number
        self.minimum = number if self.minimum is None else min(self.minimum, number)
        self.maximum = number if self.maximum is None else max(self.maximum, number)


@dataclass
class CsvSummary:
    rows: int
    header: list[str]
    columns: list[ColumnSummary]
    first_rows: list[tuple[int, list[str]]]


@dataclass
class RunFile:
    experiment: MLExperiment
    entry: ArtifactEntry | None  # None: the path does not exist in this run
    download_url: str = ""
    inline_url: str = ""
    too_large: bool = False
    is_dir: bool = False
    text: str = ""
    truncated: bool = False
    note: str = ""
    binary: bool = False
    csv: CsvSummary | None = None

    @property
    def exists(self) -> bool:
        return self.entry is not None and not self.is_dir


@dataclass
class DiffLine:
    kind: str  # head, hunk, add, del, same
    text: str


@dataclass
class Diff:
    base: RunFile
    other: RunFile
    lines: list[DiffLine]
    cut: bool = False

    @property
    def identical(self) -> bool:
        return not self.lines


@dataclass
class Comparison:
    path: str
    kind: str
    runs: list[RunFile]
    diffs: list[Diff] = field(default_factory=list)

    @property
    def present(self) -> list[RunFile]:
        return [run for run in self.runs if run.exists]


# --- reading ---------------------------------------------------------------------------------


def normalized_json(text: str) -> tuple[str, str]:
    """JSON with sorted keys and fixed indentation, so a diff shows only real changes."""
    try:
        data = json.loads(text)
    except ValueError as error:
        return text, _("No es JSON válido (%(error)s): se compara como texto.") % {"error": error}
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False), ""


def _read_text(run: RunFile, path: str, kind: str) -> None:
    data, run.truncated = previews.read_text(experiment=run.experiment, path=path, model_id=None)
    if kind == "unknown" and previews.looks_binary(data):
        run.binary = True
        return
    run.text = previews.decode_text(data, truncated=run.truncated)
    if kind == "json" and not run.truncated:
        run.text, run.note = normalized_json(run.text)


def csv_summary(rows, *, first_rows: int = CSV_FIRST_ROWS) -> CsvSummary:
    """Counts and per-column statistics of CSV rows, computed in one pass."""
    header = [str(name) for name in next(rows, [])][:CSV_MAX_COLUMNS]
    columns = [ColumnSummary(name=name) for name in header]
    kept: list[tuple[int, list[str]]] = []
    count = 0
    for count, row in enumerate(rows, 1):
        if len(kept) < first_rows:
            kept.append((count, row[:CSV_MAX_COLUMNS]))
        for column, value in zip(columns, row, strict=False):
            column.add(value)
    for column in columns:
        if column.count == 0:
            column.numeric = False
    return CsvSummary(rows=count, header=header, columns=columns, first_rows=kept)


def _read_csv(run: RunFile, path: str, kind: str) -> None:
    delimiter = "\t" if kind == "tsv" else None
    with previews.opened(experiment=run.experiment, path=path, model_id=None) as response:
        reader = previews.csv_reader(
            response, delimiter=delimiter, cap=settings.ARTIFACT_PREVIEW_MAX_BYTES
        )
        try:
            run.csv = csv_summary(reader)
        except csv.Error as error:
            run.note = _("No se pudo leer como tabla (%(error)s).") % {"error": error}


def _run_file(experiment: MLExperiment, path: str, kind: str) -> RunFile:
    try:
        entry = artifact_entry(experiment=experiment, path=path)
    except NotFoundError:
        return RunFile(experiment=experiment, entry=None)
    run = RunFile(
        experiment=experiment,
        entry=entry,
        is_dir=entry.is_dir,
        download_url=previews.artifact_download_url(experiment=experiment, path=path),
        inline_url=previews.artifact_download_url(experiment=experiment, path=path, inline=True),
    )
    if entry.is_dir:
        return run
    if entry.size is not None and entry.size > settings.ARTIFACT_PREVIEW_MAX_BYTES:
        run.too_large = True
    elif kind in ("csv", "tsv"):
        _read_csv(run, path, kind)
    elif kind in DIFF_KINDS:
        _read_text(run, path, kind)
    return run


def text_diff(base: RunFile, other: RunFile) -> Diff:
    lines = []
    cut = False
    for line in difflib.unified_diff(
        base.text.splitlines(),
        other.text.splitlines(),
        fromfile=base.experiment.name,
        tofile=other.experiment.name,
        lineterm="",
    ):
        if len(lines) == DIFF_MAX_LINES:
            cut = True
            break
        if line.startswith(("---", "+++")) and len(lines) < 2:
            kind = "head"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "same"
        lines.append(DiffLine(kind=kind, text=line))
    return Diff(base=base, other=other, lines=lines, cut=cut)


def artifact_compare(*, experiments: list[MLExperiment], path: str) -> Comparison:
    """The file at ``path`` (already cleaned) in each experiment's run, ready to show.

    Texts are diffed against the first run that has the file, each of the others in turn.
    """
    kind = previews.preview_kind(path)
    runs = [_run_file(experiment, path, kind) for experiment in experiments]
    comparison = Comparison(path=path, kind=kind, runs=runs)
    readable = [run for run in comparison.present if not run.too_large and not run.binary]
    if kind in DIFF_KINDS and len(readable) >= 2:
        base, *others = readable
        comparison.diffs = [text_diff(base, other) for other in others]
    return comparison
