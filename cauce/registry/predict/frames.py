"""Prediction input and output as plain functions (no request, no ORM, no MLflow).

Input comes as one of MLflow's scoring-server JSON bodies (``dataframe_split``,
``dataframe_records``, ``inputs``, ``instances``: a client written for ``mlflow models serve``
works against Cauce with only the URL changed), as pasted JSON rows, or as a CSV/Parquet
file read with the dataset upload's rules. It is then checked against the model's input
signature: missing columns are listed, extra columns dropped with a note, and every value
converted to its column's type, naming the column and the row of the first bad values.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from cauce.core.exceptions import ApplicationError
from cauce.core.values import json_safe
from cauce.datasets.inference import PARQUET_MAGIC
from cauce.integrations.mlflow.serving import InputColumn, PredictionOutput

DF_SPLIT = "dataframe_split"
DF_RECORDS = "dataframe_records"
INPUTS = "inputs"
INSTANCES = "instances"
SCORING_FORMATS = (DF_SPLIT, DF_RECORDS, INPUTS, INSTANCES)

PREDICTION_COLUMN = "prediction"
PROBABILITY_PREFIX = "probability_"

# How many bad values one error message quotes (all of them would bury the first).
MAX_REPORTED_ERRORS = 5

_TRUE_TOKENS = frozenset({"true", "yes", "si", "sí", "t", "y", "verdadero", "1", "1.0"})
_FALSE_TOKENS = frozenset({"false", "no", "f", "n", "falso", "0", "0.0"})
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")

_PLAIN_NUMBER_TYPES = {int, float, type(None), np.float64, np.int64}
_FLOAT_TYPES = {"double": "float64", "float": "float32"}
_INTEGER_TYPES = {"long": "int64", "integer": "int32"}


@dataclass(frozen=True)
class CheckedInput:
    """Rows ready for the model: exactly the signature's columns, converted; and notes."""

    frame: pd.DataFrame
    notes: list[dict[str, Any]] = field(default_factory=list)
    # The rows came exactly as the signature asks (``frame_is_exact``), returned unchanged.
    exact: bool = False


@dataclass(frozen=True)
class ScoringBody:
    """A request body of the scoring-server protocol, read once.

    ``frame`` holds the rows when they could be read without the model (named columns: the
    usual case); otherwise ``pending`` keeps the body, read by ``rows()`` once the model's
    columns are known (positional rows), or to report what is wrong with it then. ``options``
    are the other top-level keys (``version``, ``alias``, ``probabilities``...).
    """

    options: dict[str, Any]
    frame: pd.DataFrame | None = None
    pending: Any = None

    @property
    def empty(self) -> bool:
        """No rows key at all: an empty object, or not an object (the API's "empty body")."""
        return self.frame is None and not (isinstance(self.pending, dict) and self.pending)

    def rows(self, *, columns: Sequence[str] | None) -> pd.DataFrame:
        if self.frame is not None:
            return self.frame
        with collector_paused():
            return parse_scoring_body(self.pending, columns=columns)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection while a body's rows are read.

    A JSON body of 10,000 rows is 10,000 lists that live only until they are copied into
    one array; with the collector on, every 700 of them set off a collection that scans them
    and moves them to the older generations, which costs more than parsing (they are freed
    by reference counting, never by the collector). Another thread's pause ending first
    only lets the collector run early.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def scoring_body_read(raw: bytes) -> ScoringBody:
    """A JSON request body (``parse_json_bytes``), its rows made a DataFrame at once."""
    with collector_paused():
        body = parse_json_bytes(raw)
        scoring = _scoring_body(body)
        del body  # the parsed rows go now, while the collector is still off
    return scoring


def _scoring_body(body: Any) -> ScoringBody:
    if not isinstance(body, dict):
        return ScoringBody(options={}, pending=body)
    options = {key: value for key, value in body.items() if key not in SCORING_FORMATS}
    try:
        frame = parse_scoring_body(body, columns=None)
    except ApplicationError:
        # Positional rows need the model's column names; a malformed body is reported once
        # the version is known, as before.
        return ScoringBody(options=options, pending=body)
    return ScoringBody(options=options, frame=frame)


# --- parsing ---------------------------------------------------------------------------------


def parse_scoring_body(body: Any, *, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of an MLflow scoring-server request body.

    ``columns`` (the signature's names) lets ``inputs``/``instances`` rows given as plain
    lists be read positionally, as MLflow does for a column-based signature.
    """
    if isinstance(body, list):
        raise ApplicationError(
            _("El cuerpo debe ser un objeto JSON con una de las claves %(keys)s, no una lista.")
            % {"keys": ", ".join(SCORING_FORMATS)}
        )
    if not isinstance(body, dict):
        raise ApplicationError(
            _("El cuerpo debe ser un objeto JSON con una de las claves %(keys)s.")
            % {"keys": ", ".join(SCORING_FORMATS)}
        )
    present = [key for key in SCORING_FORMATS if key in body]
    if len(present) != 1:
        raise ApplicationError(
            _("El cuerpo debe tener exactamente una de las claves %(keys)s (tiene: %(found)s).")
            % {
                "keys": ", ".join(SCORING_FORMATS),
                "found": ", ".join(present) or _("ninguna"),
            }
        )
    key = present[0]
    payload = body[key]
    if key == DF_SPLIT:
        return _frame_from_split(payload)
    if key == DF_RECORDS:
        return _frame_from_records(payload, key=key)
    return _frame_from_tf_inputs(payload, key=key, columns=columns)


def parse_pasted_json(text: str, *, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Rows pasted in the page: a scoring-server body, a list of row objects, or one row."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ApplicationError(
            _("El JSON no es válido: %(reason)s") % {"reason": _json_reason(error)}
        ) from error
    if isinstance(value, list):
        return _frame_from_records(value, key="JSON")
    if isinstance(value, dict) and not any(key in value for key in SCORING_FORMATS):
        return _frame_from_records([value], key="JSON")
    return parse_scoring_body(value, columns=columns)


def parse_json_bytes(raw: bytes) -> Any:
    """A request body as JSON, with a readable error."""
    if not raw.strip():
        raise empty_body_error()
    try:
        return orjson.loads(raw)
    except (ValueError, RecursionError) as error:
        raise ApplicationError(
            _("El JSON no es válido: %(reason)s") % {"reason": _json_reason(error)}
        ) from error


def parse_parquet_bytes(raw: bytes) -> pd.DataFrame:
    """A Parquet body (what ``DataFrame.to_parquet()`` writes), as MLflow's scoring server
    reads ``application/vnd.apache.parquet``.

    The file's metadata is read first: a body that is not Parquet, repeated column names,
    too many rows or values that would not fit in memory are refused before any data is
    decompressed. The columns keep the file's types; the signature check converts them.
    """
    if not raw:
        raise empty_body_error()
    unreadable = ApplicationError(
        _(
            "El cuerpo no es un archivo Parquet válido (está dañado o incompleto). Envíe el "
            "que escribe DataFrame.to_parquet()."
        )
    )
    if not (raw.startswith(PARQUET_MAGIC) and raw.endswith(PARQUET_MAGIC)):
        raise unreadable
    try:
        parquet = pq.ParquetFile(io.BytesIO(raw))
        names = [str(name) for name in parquet.schema_arrow.names]
        rows = parquet.metadata.num_rows
    except (pa.ArrowException, OSError, ValueError) as error:
        raise unreadable from error
    _check_unique(names)
    rows_check(rows)
    expanded_mb = rows * max(len(names), 1) * 8 // (1024 * 1024)
    if expanded_mb > settings.DATASET_MAX_EXPANDED_MB:
        raise ApplicationError(
            _(
                "El Parquet ocupa unos %(size)d MB sin comprimir; el máximo es %(max)d MB. "
                "Envíe menos filas por petición."
            )
            % {"size": expanded_mb, "max": settings.DATASET_MAX_EXPANDED_MB}
        )
    try:
        frame = parquet.read().to_pandas()
    except (pa.ArrowException, OSError, ValueError, TypeError) as error:
        raise unreadable from error
    frame = frame.reset_index(drop=True)
    frame.columns = [str(name) for name in frame.columns]
    return frame


def empty_body_error() -> ApplicationError:
    return ApplicationError(_("No hay filas que predecir: el cuerpo está vacío."))


def _json_reason(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return _("línea %(line)d, columna %(column)d") % {
            "line": error.lineno,
            "column": error.colno,
        }
    if isinstance(error, UnicodeDecodeError):
        return _("no está en UTF-8")
    return _("no se puede leer")


def _frame_from_split(payload: Any) -> pd.DataFrame:
    if not isinstance(payload, dict) or "data" not in payload:
        raise ApplicationError(
            _('"dataframe_split" debe ser un objeto con "columns" y "data" (lista de filas).')
        )
    data = payload["data"]
    columns = payload.get("columns")
    if columns is not None:
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise ApplicationError(
                _('"dataframe_split.columns" debe ser una lista de nombres de columna.')
            )
        _check_unique(columns)
    numbers = _numeric_frame(data, columns)
    if numbers is not None:
        return numbers
    if not isinstance(data, list) or not all(isinstance(row, list) for row in data):
        raise ApplicationError(_('"dataframe_split.data" debe ser una lista de filas (listas).'))
    if columns is not None:
        for number, row in enumerate(data, 1):
            if len(row) != len(columns):
                raise ApplicationError(
                    _(
                        "La fila %(row)d de dataframe_split tiene %(seen)d valores y hay "
                        "%(expected)d columnas."
                    )
                    % {"row": number, "seen": len(row), "expected": len(columns)}
                )
    return _frame_from_rows(data, columns)


def _numeric_frame(rows: Any, columns: list[str] | None) -> pd.DataFrame | None:
    """Rows of numbers (the usual body) as one float array, or None to read them one by one.

    numpy checks the shape itself (a short, long or non-list row fails here), so the rows
    are looked at in Python only when this fails, to say which one is wrong.
    """
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], list):
        return None
    if not all(type(value) in _PLAIN_NUMBER_TYPES for value in rows[0]):
        return None
    try:
        values = np.array(rows, dtype=np.float64)
    except (ValueError, TypeError):
        return None  # a text or a ragged row further down: each column keeps its own type
    if values.ndim != 2 or (columns is not None and values.shape[1] != len(columns)):
        return None
    return pd.DataFrame(values, columns=columns, copy=False)


def _frame_from_rows(rows: list[list[Any]], columns: list[str] | None) -> pd.DataFrame:
    """Rows as lists; all numbers (the usual body) go through one numpy array, far faster."""
    numbers = _numeric_frame(rows, columns)
    return numbers if numbers is not None else pd.DataFrame(rows, columns=columns)


def _frame_from_records(payload: Any, *, key: str) -> pd.DataFrame:
    if not isinstance(payload, list):
        raise ApplicationError(
            _('"%(key)s" debe ser una lista de filas (objetos JSON).') % {"key": key}
        )
    for number, row in enumerate(payload, 1):
        if not isinstance(row, dict):
            raise ApplicationError(
                _("La fila %(row)d de %(key)s no es un objeto JSON {columna: valor}.")
                % {"row": number, "key": key}
            )
    return pd.DataFrame.from_records(payload)


def _frame_from_tf_inputs(payload: Any, *, key: str, columns: Sequence[str] | None) -> pd.DataFrame:
    """``inputs``/``instances``: row objects, one object of column lists, or positional rows."""
    if isinstance(payload, dict):
        lengths = set()
        for name, values in payload.items():
            if not isinstance(values, list):
                raise ApplicationError(
                    _('En "%(key)s", la columna «%(column)s» debe ser una lista de valores.')
                    % {"key": key, "column": name}
                )
            lengths.add(len(values))
        if len(lengths) > 1:
            raise ApplicationError(
                _('En "%(key)s", todas las columnas deben tener el mismo número de valores.')
                % {"key": key}
            )
        return pd.DataFrame(payload)
    if not isinstance(payload, list):
        raise ApplicationError(_('"%(key)s" debe ser una lista de filas.') % {"key": key})
    if all(isinstance(row, dict) for row in payload):
        return _frame_from_records(payload, key=key)
    if all(isinstance(row, list) for row in payload):
        if not columns:
            raise ApplicationError(
                _(
                    "Filas sin nombres de columna: el modelo no tiene firma de entrada con "
                    "nombres. Use dataframe_split o dataframe_records."
                )
            )
        for number, row in enumerate(payload, 1):
            if len(row) != len(columns):
                raise ApplicationError(
                    _(
                        "La fila %(row)d de %(key)s tiene %(seen)d valores y el modelo espera "
                        "%(expected)d (%(columns)s)."
                    )
                    % {
                        "row": number,
                        "key": key,
                        "seen": len(row),
                        "expected": len(columns),
                        "columns": ", ".join(columns),
                    }
                )
        return _frame_from_rows(payload, list(columns))
    raise ApplicationError(
        _('"%(key)s" debe ser una lista de filas: todas objetos o todas listas.') % {"key": key}
    )


def _check_unique(columns: Sequence[str]) -> None:
    seen: set[str] = set()
    repeated = sorted({name for name in columns if name in seen or seen.add(name)})
    if repeated:
        raise ApplicationError(
            _("Hay nombres de columna repetidos: %(names)s.") % {"names": ", ".join(repeated)}
        )


# --- limits ----------------------------------------------------------------------------------


def rows_check(count: int) -> None:
    """No rows, or more than ``PREDICT_MAX_ROWS``: a clear error before the model runs."""
    if count == 0:
        raise ApplicationError(_("No hay filas que predecir."))
    limit = settings.PREDICT_MAX_ROWS
    if count > limit:
        raise ApplicationError(
            _("Demasiadas filas: %(count)s; el máximo por petición es %(limit)s.")
            % {"count": count, "limit": limit}
        )


# --- the signature ---------------------------------------------------------------------------


def input_check(
    frame: pd.DataFrame, *, inputs: Sequence[InputColumn] | None, first_row: int = 1
) -> CheckedInput:
    """The rows as the model expects them, or an ApplicationError naming what is wrong.

    ``first_row`` is the number of the frame's first row in the user's input (chunks of a
    large file start further down), so a bad value is reported where the user sees it.
    """
    if inputs is not None and _already_checked(frame, inputs):
        return CheckedInput(frame=frame, exact=True)
    frame = frame.rename(columns=lambda name: str(name).strip())
    if inputs is None:
        return CheckedInput(frame=frame)
    notes: list[dict[str, Any]] = []
    names = [column.name for column in inputs]
    missing = [column for column in inputs if column.name not in frame.columns]
    missing_required = [column.name for column in missing if column.required]
    if missing_required:
        raise missing_columns_error(missing_required)
    extra = [str(name) for name in frame.columns if name not in names]
    if extra:
        notes.append(note_make(IGNORED_COLUMNS, names=extra))
    if missing:
        notes.append(note_make(MISSING_OPTIONAL, names=[column.name for column in missing]))
    errors: list[dict[str, Any]] = []
    converted: dict[str, pd.Series] = {}
    index = pd.RangeIndex(len(frame))
    for column in inputs:
        if column.name in frame.columns:
            series = frame[column.name].reset_index(drop=True)
        else:
            series = pd.Series([None] * len(frame), index=index, dtype=object)
        converted[column.name] = _convert(series, column, errors, first_row)
    if errors:
        raise ApplicationError(_conversion_message(errors), {"invalid_values": errors})
    return CheckedInput(frame=pd.DataFrame(converted, index=index), notes=notes)


# Signature types whose column needs nothing more once it has this dtype (a gap is NaN in a
# float column, and an integer or boolean dtype cannot hold one).
_READY_DTYPES = {**_FLOAT_TYPES, **_INTEGER_TYPES, "boolean": "bool"}


def frame_is_exact(frame: pd.DataFrame, inputs: Sequence[InputColumn] | None) -> bool:
    """Whether the frame is exactly what the signature's checks would return (below)."""
    return inputs is not None and _already_checked(frame, inputs)


def _already_checked(frame: pd.DataFrame, inputs: Sequence[InputColumn]) -> bool:
    """Exactly the signature's columns, in its order, each already of its type, numbered from
    0: what a body of numbers gives, and what the checks below would return unchanged."""
    index = frame.index
    return (
        list(frame.columns) == [column.name for column in inputs]
        and isinstance(index, pd.RangeIndex)
        and index.start == 0
        and index.step == 1
        and all(
            str(dtype) == _READY_DTYPES.get(column.type)
            for dtype, column in zip(frame.dtypes, inputs, strict=True)
        )
    )


def missing_columns_error(names: list[str]) -> ApplicationError:
    return ApplicationError(
        ngettext(
            "Falta la columna que el modelo necesita: %(names)s.",
            "Faltan columnas que el modelo necesita: %(names)s.",
            len(names),
        )
        % {"names": ", ".join(names)},
        {"missing_columns": names},
    )


def _missing_mask(series: pd.Series) -> pd.Series:
    mask = series.isna()
    if series.dtype == object:
        mask |= series.map(lambda value: isinstance(value, str) and not value.strip())
    return mask


def _report(
    errors: list[dict[str, Any]],
    series: pd.Series,
    bad: pd.Series,
    column: InputColumn,
    first_row: int,
) -> None:
    for position in np.flatnonzero(bad.to_numpy())[: MAX_REPORTED_ERRORS - len(errors)]:
        if len(errors) >= MAX_REPORTED_ERRORS:
            return
        errors.append(
            {
                "column": column.name,
                "row": int(position) + first_row,
                "value": json_safe(series.iloc[position]),
                "expected": column.type,
            }
        )


def _convert(
    series: pd.Series, column: InputColumn, errors: list[dict[str, Any]], first_row: int
) -> pd.Series:
    """One column in its signature type. A gap is NaN in every type, as pandas reads it
    from a CSV for training: scikit-learn's imputers treat NaN as missing, but not None."""
    kind = column.type
    if kind in _FLOAT_TYPES and pd.api.types.is_float_dtype(series.dtype):
        # Already numbers (a JSON body of numbers, a Parquet file): nothing to look at.
        return series.astype(_FLOAT_TYPES[kind], copy=False)
    missing = _missing_mask(series)
    if kind in _FLOAT_TYPES or kind in _INTEGER_TYPES:
        numbers = _to_number(series, missing)
        bad = ~missing & numbers.isna()
        if kind in _INTEGER_TYPES:
            fractional = ~missing & ~bad & (numbers.fillna(0) % 1 != 0)
            bad |= fractional
            # An integer column cannot hold a gap; MLflow would refuse the whole batch.
            bad |= missing
        if bad.any():
            _report(errors, series, bad, column, first_row)
            return series
        if kind in _INTEGER_TYPES:
            return numbers.astype(_INTEGER_TYPES[kind])
        return numbers.astype(_FLOAT_TYPES[kind])
    if kind == "boolean":
        values = series.map(_to_boolean)
        bad = ~missing & values.isna()
        if bad.any():
            _report(errors, series, bad, column, first_row)
            return series
        if not missing.any():
            return values.astype(bool)
        flags = [math.nan if gap else value for gap, value in zip(missing, values, strict=True)]
        return pd.Series(flags, index=series.index, dtype=object)
    if kind == "string":
        texts = [math.nan if _is_missing(value) else _as_text(value) for value in series]
        return pd.Series(texts, index=series.index, dtype=object)
    if kind == "datetime":
        dates = pd.to_datetime(series.where(~missing, None), errors="coerce", utc=False)
        bad = ~missing & dates.isna()
        if bad.any():
            _report(errors, series, bad, column, first_row)
            return series
        return dates
    return series


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip() if isinstance(value, str) else str(value)


def _to_number(series: pd.Series, missing: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("float64")
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.astype("float64")
    if set(map(type, series.array)) <= _PLAIN_NUMBER_TYPES:
        # Numbers and gaps only (JSON rows with a null): no value needs a look.
        return series.astype("float64")

    def one(value: Any) -> float:
        if isinstance(value, bool):
            return math.nan  # true/false is not a number; say so
        if isinstance(value, int | float | np.number):
            return float(value)
        if isinstance(value, str):
            text = value.strip()
            if _DECIMAL_COMMA.match(text):
                text = text.replace(",", ".")
            try:
                number = float(text)
            except ValueError:
                return math.nan
            return number if math.isfinite(number) else math.nan
        return math.nan

    return (
        series.where(~missing, None)
        .map(lambda v: math.nan if v is None else one(v))
        .astype("float64")
    )


def _to_boolean(value: Any) -> Any:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        token = value.strip().lower()
        if token in _TRUE_TOKENS:
            return True
        if token in _FALSE_TOKENS:
            return False
    return None


def _conversion_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors:
        value = error["value"]
        parts.append(
            _("columna «%(column)s», fila %(row)d: %(value)s no es %(expected)s")
            % {
                "column": error["column"],
                "row": error["row"],
                "value": _("vacío") if value is None else f"«{value}»",
                "expected": type_label(error["expected"]),
            }
        )
    return _("Hay valores que no se pueden convertir al tipo del modelo: %(list)s.") % {
        "list": "; ".join(parts)
    }


def type_label(kind: str) -> str:
    """A signature type as users read it."""
    labels = {
        "double": _("un número"),
        "float": _("un número"),
        "long": _("un número entero"),
        "integer": _("un número entero"),
        "boolean": _("verdadero o falso"),
        "string": _("un texto"),
        "datetime": _("una fecha"),
    }
    return labels.get(kind, kind)


# --- output ----------------------------------------------------------------------------------


def scoring_response(output: PredictionOutput) -> dict[str, Any]:
    """The scoring server's ``{"predictions": [...]}``, plus probabilities when computed."""
    body: dict[str, Any] = {"predictions": output.predictions}
    if output.probabilities is not None:
        body["classes"] = [json_safe(value) for value in output.classes or []]
        body["probabilities"] = output.probabilities
    return body


def result_columns(output: PredictionOutput) -> list[str]:
    names = [PREDICTION_COLUMN]
    if output.probabilities is not None:
        names += [f"{PROBABILITY_PREFIX}{value}" for value in output.classes or []]
    return names


def result_frame(original: pd.DataFrame, output: PredictionOutput) -> pd.DataFrame:
    """The user's rows (every column they sent) followed by the prediction columns."""
    frame = original.reset_index(drop=True).copy()
    names = result_columns(output)
    predictions = output.predictions
    frame[_free_name(frame, names[0])] = [
        json.dumps(value) if isinstance(value, dict | list) else value for value in predictions
    ]
    if output.probabilities is not None:
        matrix = np.asarray(output.probabilities, dtype=float)
        for position, name in enumerate(names[1:]):
            frame[_free_name(frame, name)] = matrix[:, position]
    return frame


def _free_name(frame: pd.DataFrame, name: str) -> str:
    while name in frame.columns:
        name = f"{name}_"
    return name


def frame_rows(frame: pd.DataFrame) -> list[list[Any]]:
    """JSON-safe rows of a frame, for a page table."""
    return [[json_safe(value) for value in row] for row in frame.itertuples(index=False)]


def notes_merge(notes: Iterable[Any]) -> list[Any]:
    """Each note once, in order (chunks of one file repeat the same notes)."""
    merged: dict[str, Any] = {}
    for item in notes:
        merged.setdefault(json.dumps(item, sort_keys=True), item)
    return list(merged.values())


# Notes are stored language-neutral (a code and its params) and worded when shown, in the
# reader's language; a note stored as text (before codes) is shown as it was stored.
IGNORED_COLUMNS = "ignored_columns"
MISSING_OPTIONAL = "missing_optional_columns"


def note_make(code: str, *, names: list[str]) -> dict[str, Any]:
    return {"code": code, "names": [str(name) for name in names]}


def note_text(note: Any) -> str:
    """A note in the active language."""
    if not isinstance(note, dict):
        return str(note)
    names = [str(name) for name in note.get("names") or []]
    params = {"names": ", ".join(names)}
    if note.get("code") == IGNORED_COLUMNS:
        return (
            ngettext(
                "Se ignoró la columna que el modelo no usa: %(names)s.",
                "Se ignoraron las columnas que el modelo no usa: %(names)s.",
                len(names),
            )
            % params
        )
    if note.get("code") == MISSING_OPTIONAL:
        return (
            ngettext(
                "La columna opcional %(names)s no venía: se predijo con ella vacía.",
                "Las columnas opcionales %(names)s no venían: se predijo con ellas vacías.",
                len(names),
            )
            % params
        )
    return params["names"]


def notes_text(notes: Iterable[Any]) -> list[str]:
    return [note_text(item) for item in notes]
