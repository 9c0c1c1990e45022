"""Previews of one artifact file, read from MLflow's stream with a byte cap.

Only what the page shows is read: the first ``ARTIFACT_TEXT_PREVIEW_BYTES`` of a text, one
page of a CSV (rows read incrementally, never the whole file for page 1). Images, SVG, HTML
and PDF are not read here at all: the page points an ``<img>`` or a sandboxed frame at the
download URL, which serves them inline under a ``Content-Security-Policy: sandbox``. Every
stream opened here is closed before the function returns.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import markdown
import nh3
import requests
import yaml
from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from cauce.artifacts.paths import clean_artifact_path
from cauce.artifacts.selectors import artifact_entry, artifact_root, experiment_artifacts
from cauce.core.csv import DELIMITER_SAMPLE_BYTES, sniff_delimiter
from cauce.core.exceptions import ApplicationError
from cauce.experiments.models import MLExperiment
from cauce.integrations.mlflow.artifacts import artifact_open

CSV_PAGE_ROWS = 50
EXAMPLE_MAX_ROWS = 20
_SNIFF_BYTES = 8 * 1024
_CHUNK = 64 * 1024

IMAGE_EXTENSIONS = {"png", "jpg", "jpeg", "gif", "webp"}
TEXT_EXTENSIONS = {
    "txt", "log", "out", "err", "py", "cfg", "ini", "toml", "conf", "sh", "sql", "r",
    "xml", "rst", "tex", "jsonl", "ndjson", "properties", "env", "ipynb",
}  # fmt: skip
_KIND_BY_EXTENSION = {
    **dict.fromkeys(IMAGE_EXTENSIONS, "image"),
    **dict.fromkeys(TEXT_EXTENSIONS, "text"),
    "svg": "svg",
    "json": "json",
    "yaml": "yaml",
    "yml": "yaml",
    "csv": "csv",
    "tsv": "tsv",
    "md": "markdown",
    "markdown": "markdown",
    "html": "html",
    "htm": "html",
    "pdf": "pdf",
}
# Kinds the page shows through the inline download URL, without Cauce reading the bytes.
INLINE_KINDS = {"image", "svg", "html", "pdf"}
# Kinds whose text Cauce reads (capped) to render it.
TEXT_KINDS = {"text", "json", "yaml", "mlmodel", "markdown"}


def preview_kind(path: str) -> str:
    """What a file is, from its name: image, svg, text, json, yaml, mlmodel, csv, tsv,
    markdown, html, pdf, or ``unknown`` (decided by sniffing the first bytes)."""
    name = path.rsplit("/", 1)[-1]
    if name == "MLmodel":
        return "mlmodel"
    if "." not in name:
        return "unknown"
    return _KIND_BY_EXTENSION.get(name.rsplit(".", 1)[-1].lower(), "unknown")


def page_number(raw: str | None) -> int:
    """A CSV preview's page from a query string: 1 for anything that is not a number >= 1."""
    try:
        return max(int(raw or 1), 1)
    except ValueError:
        return 1


def artifact_download_url(
    *, experiment: MLExperiment, path: str, model_id: str | None = None, inline: bool = False
) -> str:
    query = {"path": path}
    if model_id:
        query["model"] = model_id
    if inline:
        query["inline"] = "1"
    return f"{reverse('artifacts:download', args=[experiment.pk])}?{urlencode(query)}"


def artifact_preview_url(
    *, experiment: MLExperiment, path: str, model_id: str | None = None, page: int | None = None
) -> str:
    query: dict[str, str | int] = {"path": path}
    if model_id:
        query["model"] = model_id
    if page:
        query["page"] = page
    return f"{reverse('artifacts:preview', args=[experiment.pk])}?{urlencode(query)}"


# --- results ---------------------------------------------------------------------------------


@dataclass
class Table:
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (1-based row number, cells)


@dataclass
class CsvPage(Table):
    page: int = 1
    has_next: bool = False


@dataclass
class SignatureField:
    name: str
    type: str


@dataclass
class MlmodelSummary:
    flavors: list[tuple[str, str]]  # (flavor, its details in one line)
    inputs: list[SignatureField]
    outputs: list[SignatureField]
    example: Table | None = None
    example_path: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)  # model id, run id, created...

    @property
    def signature_parts(self) -> list[tuple[str, list[SignatureField]]]:
        return [(_("Entradas"), self.inputs), (_("Salidas"), self.outputs)]


@dataclass
class Preview:
    kind: str
    path: str
    model_id: str | None
    size: int | None
    download_url: str
    inline_url: str
    too_large: bool = False
    text: str = ""
    truncated: bool = False
    note: str = ""
    html: str = ""  # sanitized (Markdown)
    table: CsvPage | None = None
    mlmodel: MlmodelSummary | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


# --- reading streams -------------------------------------------------------------------------


@contextlib.contextmanager
def opened(*, experiment: MLExperiment, path: str, model_id: str | None) -> Iterator[Any]:
    root = artifact_root(info=experiment_artifacts(experiment=experiment), model_id=model_id)
    response = artifact_open(root=root, path=path)
    try:
        yield response
    finally:
        response.close()


def read_capped(response: requests.Response, cap: int) -> tuple[bytes, bool]:
    """At most ``cap`` bytes of the body, and whether there was more."""
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_content(chunk_size=_CHUNK):
        chunks.append(chunk)
        total += len(chunk)
        if total > cap:
            break
    data = b"".join(chunks)
    return data[:cap], total > cap


def decode_text(data: bytes, *, truncated: bool) -> str:
    # A cut can fall inside a multi-byte character: an incremental decoder drops that tail.
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    return decoder.decode(data, final=not truncated)


def looks_binary(data: bytes) -> bool:
    sample = data[:_SNIFF_BYTES]
    if b"\x00" in sample:
        return True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return True
    return False


def read_text(
    *, experiment: MLExperiment, path: str, model_id: str | None, cap: int | None = None
) -> tuple[bytes, bool]:
    with opened(experiment=experiment, path=path, model_id=model_id) as response:
        return read_capped(response, cap or settings.ARTIFACT_TEXT_PREVIEW_BYTES)


class _CappedStream(io.RawIOBase):
    """A file object over a response's raw stream that ends after ``cap`` bytes."""

    def __init__(self, raw: Any, cap: int):
        self._raw = raw
        self._left = cap

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: self._left]
        count = self._raw.readinto(view) or 0
        self._left -= count
        return count


def csv_reader(response: requests.Response, *, delimiter: str | None, cap: int) -> Iterator[list]:
    """Rows of a CSV body, parsed as they arrive (quoted newlines included)."""
    response.raw.decode_content = True
    buffered = io.BufferedReader(_CappedStream(response.raw, cap), buffer_size=_CHUNK)
    if delimiter is None:
        sample = buffered.peek(DELIMITER_SAMPLE_BYTES)[:DELIMITER_SAMPLE_BYTES]
        delimiter = sniff_delimiter(sample.decode("utf-8", errors="ignore"))
    text = io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="replace", newline="")
    return csv.reader(text, delimiter=delimiter)


# --- formats ---------------------------------------------------------------------------------


def pretty_json(text: str) -> tuple[str, str]:
    """(text to show, note): indented JSON, or the text as it is with why it is not JSON."""
    try:
        data = json.loads(text)
    except ValueError as error:
        return text, _("No es JSON válido (%(error)s): se muestra como texto.") % {"error": error}
    return json.dumps(data, indent=2, ensure_ascii=False), ""


def render_markdown(text: str) -> str:
    """Markdown as HTML with everything executable removed (scripts, handlers, js: URLs)."""
    html = markdown.markdown(text, extensions=["extra", "sane_lists"], output_format="html")
    return nh3.clean(html)


def _signature_fields(raw: Any) -> list[SignatureField]:
    if not raw:
        return []
    try:
        columns = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return []
    fields = []
    for position, column in enumerate(columns if isinstance(columns, list) else []):
        if not isinstance(column, dict):
            continue
        kind = str(column.get("type", ""))
        spec = column.get("tensor-spec")
        if isinstance(spec, dict):
            kind = f"tensor {spec.get('dtype', '')} {spec.get('shape', '')}".strip()
        if column.get("required") is False:
            kind = _("%(type)s (opcional)") % {"type": kind}
        fields.append(SignatureField(name=str(column.get("name", f"[{position}]")), type=kind))
    return fields


def _flavor_details(options: Any) -> str:
    if not isinstance(options, dict):
        return ""
    parts = []
    for key, value in options.items():
        if isinstance(value, (str, int, float, bool)):
            parts.append(f"{key}: {value}")
    return ", ".join(parts)


def mlmodel_summary(text: str) -> MlmodelSummary | None:
    """Flavors, signature and example location of an MLmodel file; None if unreadable."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict):
        return None
    flavors = data.get("flavors") if isinstance(data.get("flavors"), dict) else {}
    signature = data.get("signature") if isinstance(data.get("signature"), dict) else {}
    example_info = data.get("saved_input_example_info")
    example_path = ""
    if isinstance(example_info, dict):
        example_path = str(example_info.get("artifact_path") or "")
    facts = [
        (label, str(data[key]))
        for key, label in (
            ("model_id", _("ID del modelo")),
            ("run_id", _("Run ID")),
            ("mlflow_version", _("Versión de MLflow")),
            ("utc_time_created", _("Creado (UTC)")),
        )
        if data.get(key)
    ]
    return MlmodelSummary(
        flavors=[(name, _flavor_details(options)) for name, options in flavors.items()],
        inputs=_signature_fields(signature.get("inputs")),
        outputs=_signature_fields(signature.get("outputs")),
        example_path=example_path,
        facts=facts,
    )


def _cells(values: list[Any]) -> list[str]:
    return ["" if value is None else str(value) for value in values]


def example_table(data: Any) -> Table | None:
    """An MLflow input example (any of its saved shapes) as a table, or None."""
    if isinstance(data, dict):
        for key in ("dataframe_split", "dataframe_records", "inputs", "instances"):
            if key in data:
                return example_table(data[key])
        if isinstance(data.get("columns"), list) and isinstance(data.get("data"), list):
            rows = [row if isinstance(row, list) else [row] for row in data["data"]]
            return Table(
                header=_cells(data["columns"]),
                rows=[(n, _cells(r)) for n, r in enumerate(rows[:EXAMPLE_MAX_ROWS], 1)],
            )
        if data and all(isinstance(value, list) for value in data.values()):
            header = list(data)
            length = min(len(value) for value in data.values())
            rows = [[data[name][i] for name in header] for i in range(length)]
            return Table(
                header=header,
                rows=[(n, _cells(r)) for n, r in enumerate(rows[:EXAMPLE_MAX_ROWS], 1)],
            )
        if data:
            return Table(header=list(data), rows=[(1, _cells(list(data.values())))])
        return None
    if isinstance(data, list) and data:
        if all(isinstance(row, dict) for row in data):
            header = list(dict.fromkeys(key for row in data for key in row))
            rows = [[row.get(name) for name in header] for row in data[:EXAMPLE_MAX_ROWS]]
            return Table(header=header, rows=[(n, _cells(r)) for n, r in enumerate(rows, 1)])
        rows = [row if isinstance(row, list) else [row] for row in data[:EXAMPLE_MAX_ROWS]]
        width = max(len(row) for row in rows)
        return Table(
            header=[str(i) for i in range(width)],
            rows=[(n, _cells(r)) for n, r in enumerate(rows, 1)],
        )
    return None


# --- the preview -----------------------------------------------------------------------------


def _sibling(path: str, name: str) -> str:
    folder = path.rsplit("/", 1)[0] if "/" in path else ""
    return f"{folder}/{name}" if folder else name


def _load_example(preview: Preview, experiment: MLExperiment) -> None:
    summary = preview.mlmodel
    if summary is None or not summary.example_path:
        return
    try:
        # The MLmodel file is data too: its example path is checked like a user's.
        example_path = clean_artifact_path(_sibling(preview.path, summary.example_path))
        data, truncated = read_text(
            experiment=experiment, path=example_path, model_id=preview.model_id
        )
        if truncated:
            return
        summary.example = example_table(json.loads(decode_text(data, truncated=False)))
    except (ApplicationError, ValueError):
        return
    summary.example_path = example_path


def _fill_text(preview: Preview, experiment: MLExperiment, *, sniffed: bool) -> None:
    data, truncated = read_text(experiment=experiment, path=preview.path, model_id=preview.model_id)
    if sniffed and looks_binary(data):
        preview.kind = "binary"
        return
    if sniffed:
        preview.kind = "text"
    preview.truncated = truncated
    preview.text = decode_text(data, truncated=truncated)
    if preview.kind == "json" and not truncated:
        preview.text, preview.note = pretty_json(preview.text)
    elif preview.kind == "markdown":
        preview.html = render_markdown(preview.text)
    elif preview.kind == "mlmodel":
        preview.mlmodel = mlmodel_summary(preview.text)
        _load_example(preview, experiment)


def _fill_csv(preview: Preview, experiment: MLExperiment, *, page: int) -> None:
    delimiter = "\t" if preview.kind == "tsv" else None
    skip = (page - 1) * CSV_PAGE_ROWS
    cap = settings.ARTIFACT_PREVIEW_MAX_BYTES
    with opened(experiment=experiment, path=preview.path, model_id=preview.model_id) as response:
        reader = csv_reader(response, delimiter=delimiter, cap=cap)
        try:
            header = next(reader, [])
            rows: list[tuple[int, list[str]]] = []
            has_next = False
            for number, row in enumerate(reader, 1):
                if number <= skip:
                    continue
                if len(rows) == CSV_PAGE_ROWS:
                    has_next = True
                    break
                rows.append((number, row))
        except csv.Error as error:
            preview.note = _("No se pudo leer como tabla (%(error)s).") % {"error": error}
            preview.kind = "text"
            data, preview.truncated = read_text(
                experiment=experiment, path=preview.path, model_id=preview.model_id
            )
            preview.text = decode_text(data, truncated=preview.truncated)
            return
    preview.table = CsvPage(header=header, rows=rows, page=page, has_next=has_next)


def artifact_preview(
    *, experiment: MLExperiment, path: str, model_id: str | None = None, page: int = 1
) -> Preview:
    """What the preview panel shows for one file (``path`` already cleaned).

    Raises 404 when the file does not exist, MLflow's errors when it cannot be reached.
    """
    entry = artifact_entry(experiment=experiment, path=path, model_id=model_id)
    kind = "folder" if entry.is_dir else preview_kind(path)
    preview = Preview(
        kind=kind,
        path=path,
        model_id=model_id,
        size=entry.size,
        download_url=artifact_download_url(experiment=experiment, path=path, model_id=model_id),
        inline_url=artifact_download_url(
            experiment=experiment, path=path, model_id=model_id, inline=True
        ),
    )
    if kind == "folder":
        return preview
    if _over_limit(entry.size):
        preview.too_large = True
        return preview
    if kind in INLINE_KINDS:
        return preview
    if kind in ("csv", "tsv"):
        _fill_csv(preview, experiment, page=max(page, 1))
    else:
        _fill_text(preview, experiment, sniffed=kind == "unknown")
    return preview


def _over_limit(size: int | None) -> bool:
    return size is not None and size > settings.ARTIFACT_PREVIEW_MAX_BYTES
