"""Read a tabular file (CSV or Parquet), validate it and describe it.

Pure functions: no ORM, no request. The upload service profiles a file with
``profile_file`` before anything is stored; the training pipeline loads it later with
``load_dataframe``, which shares the parsing rules so both see the same table.
"""

import codecs
import csv
import io
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.utils.translation import gettext as _

from cauce.core.csv import sniff_delimiter
from cauce.core.exceptions import ApplicationError
from cauce.core.values import json_safe
from cauce.datasets.digests import StreamDigest, digest_handle

CSV = "csv"
PARQUET = "parquet"

PARQUET_MAGIC = b"PAR1"
# Tried in this order: a file that is not valid UTF-8 is most often a Windows export.
FALLBACK_ENCODINGS = ("cp1252", "latin-1")

# How much of the file is looked at to tell text from binary and to sniff the delimiter.
SAMPLE_BYTES = 64 * 1024
DECODE_CHUNK_BYTES = 1024 * 1024

# Signatures of files people upload by mistake, with the name we give them.
BINARY_SIGNATURES = (
    (b"PK\x03\x04", "ZIP/XLSX"),
    (b"PK\x05\x06", "ZIP"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "XLS"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"),
    (b"%PDF", "PDF"),
    (b"\x1f\x8b", "GZIP"),
    (b"BZh", "BZIP2"),
    (b"\xfd7zXZ\x00", "XZ"),
    (b"7z\xbc\xaf\x27\x1c", "7Z"),
    (b"Rar!", "RAR"),
    (b"SQLite format 3\x00", "SQLite"),
    (b"\x7fELF", "ELF"),
)

BOOLEAN_TOKENS = frozenset(
    {"true", "false", "yes", "no", "si", "sí", "t", "f", "y", "n", "verdadero", "falso"}
)
# A text column with at most this many distinct values (and repeated values) is categorical.
CATEGORICAL_MAX_UNIQUE = 50
CATEGORICAL_MAX_UNIQUE_RATIO = 0.5
ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)

Source = str | Path | IO[bytes]


# Why a column looks like an identifier rather than a feature (ColumnProfile.id_like).
ID_DISTINCT_TEXT = "distinct_text"  # text whose values are (almost) all different
ID_ROW_NUMBER = "row_number"  # integers, unique, each one more than the previous
# "Almost all distinct": at least this share of the non-missing values are different.
ID_DISTINCT_RATIO = 0.9


@dataclass(frozen=True)
class ColumnProfile:
    name: str
    dtype: str
    kind: str  # numeric | categorical | boolean | datetime | text
    missing: int
    unique: int
    # "" for an ordinary column; otherwise why it looks like an identifier (ID_*).
    id_like: str = ""


@dataclass(frozen=True)
class DatasetProfile:
    file_format: str
    encoding: str
    delimiter: str
    columns: list[ColumnProfile]
    row_count: int
    # {"columns": [names], "rows": [[JSON-safe values], ...]}
    preview: dict[str, Any] = field(default_factory=dict)
    # cauce.datasets.digests: of the bytes as read (and then stored).
    digest: str = ""

    @property
    def column_count(self) -> int:
        return len(self.columns)

    @property
    def schema(self) -> list[dict[str, Any]]:
        return [asdict(column) for column in self.columns]


# --- public API -----------------------------------------------------------------------------


def profile_file(source: Source, *, preview_rows: int | None = None) -> DatasetProfile:
    """Validate a CSV or Parquet file and describe it; ApplicationError if it is not usable."""
    if preview_rows is None:
        preview_rows = settings.DATASET_PREVIEW_ROWS
    with _binary(source) as handle:
        head = handle.read(SAMPLE_BYTES)
        if not head.strip():
            raise ApplicationError(_("El archivo está vacío."))
        if head.startswith(PARQUET_MAGIC):
            digest = digest_handle(handle)
            frame = _read_parquet_checked(handle)
            file_format, encoding, delimiter = PARQUET, "", ""
        else:
            _reject_binary(head)
            encoding, digest = _detect_encoding_and_digest(handle)
            text_head = head.decode(encoding, errors="replace")
            if encoding == "utf-8" and text_head.startswith("\ufeff"):
                encoding = "utf-8-sig"
            text_head = text_head.lstrip("\ufeff")
            delimiter = sniff_delimiter(text_head)
            _check_header(_csv_header(text_head, delimiter))
            handle.seek(0)
            frame = _read_csv(handle, encoding=encoding, delimiter=delimiter)
            file_format = CSV
    _check_frame(frame)
    return DatasetProfile(
        file_format=file_format,
        encoding=encoding,
        delimiter=delimiter,
        columns=[_profile_column(name, frame[name]) for name in frame.columns],
        row_count=len(frame),
        preview=frame_preview(frame, rows=preview_rows),
        digest=digest,
    )


def load_dataframe(
    dataset_path: Source,
    *,
    file_format: str,
    encoding: str = "",
    delimiter: str = "",
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Load a stored dataset (a path or a binary file object) as it was profiled."""
    with _binary(dataset_path) as handle:
        if file_format == PARQUET:
            if columns is not None:
                _check_columns_exist(columns, pq.ParquetFile(handle).schema_arrow.names)
                handle.seek(0)
            frame = _read_parquet(handle, columns=columns)
        elif file_format == CSV:
            wanted = None if columns is None else set(columns)
            frame = _read_csv(
                handle,
                encoding=encoding or "utf-8",
                delimiter=delimiter or ",",
                # A callable never raises on a missing name: the check below names them.
                usecols=None if wanted is None else wanted.__contains__,
            )
        else:
            raise ApplicationError(_("Formato de archivo no admitido: %s.") % file_format)
    if columns is None:
        return frame
    _check_columns_exist(columns, list(frame.columns))
    return frame[list(columns)]


@dataclass(frozen=True)
class TextTable:
    """A CSV (or Parquet) file opened for reading in chunks: see ``text_table_open``."""

    file_format: str
    encoding: str
    delimiter: str
    columns: list[str]


def text_table_open(source: Source) -> TextTable:
    """Check a CSV or Parquet file and detect how to read it (encoding, delimiter, header).

    The same rules as a dataset upload (binary files refused, UTF-8/cp1252/latin-1, the
    delimiter sniffed), without a minimum number of columns: a prediction file may hold one.
    """
    with _binary(source) as handle:
        head = handle.read(SAMPLE_BYTES)
        if not head.strip():
            raise ApplicationError(_("El archivo está vacío."))
        if head.startswith(PARQUET_MAGIC):
            handle.seek(0)
            try:
                names = pq.ParquetFile(handle).schema_arrow.names
            except (pa.ArrowException, OSError, ValueError) as error:
                raise ApplicationError(
                    _("No se pudo leer el archivo Parquet: está dañado o incompleto.")
                ) from error
            return TextTable(PARQUET, "", "", [str(name) for name in names])
        _reject_binary(head)
        encoding = _detect_encoding(handle)
        text_head = head.decode(encoding, errors="replace")
        if encoding == "utf-8" and text_head.startswith("\ufeff"):
            encoding = "utf-8-sig"
        text_head = text_head.lstrip("\ufeff")
        delimiter = sniff_delimiter(text_head)
        header = [name.strip() for name in _csv_header(text_head, delimiter)]
    if not any(header):
        raise ApplicationError(_("El archivo está vacío."))
    return TextTable(CSV, encoding, delimiter, header)


def text_table_chunks(
    source: Source, table: TextTable, *, chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """The rows of a file opened with ``text_table_open``, ``chunk_rows`` at a time.

    CSV cells come as text (None when empty), exactly as written: the caller converts each
    column to the type it needs and can quote a bad value back to the user.
    """
    with _binary(source) as handle:
        if table.file_format == PARQUET:
            parquet = pq.ParquetFile(handle)
            for batch in parquet.iter_batches(batch_size=chunk_rows):
                yield batch.to_pandas()
            return
        text = io.TextIOWrapper(handle, encoding=table.encoding, newline="")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                reader = pd.read_csv(
                    text,
                    sep=table.delimiter,
                    index_col=False,
                    dtype=str,
                    keep_default_na=False,
                    na_values=[""],
                    engine="c",
                    chunksize=chunk_rows,
                )
                with reader:
                    for chunk in reader:
                        chunk.columns = [str(name).strip() for name in chunk.columns]
                        yield chunk.astype(object).where(chunk.notna(), None)
        except pd.errors.EmptyDataError as error:
            raise ApplicationError(_("El archivo está vacío.")) from error
        except (
            pd.errors.ParserError,
            pd.errors.ParserWarning,
            UnicodeDecodeError,
            csv.Error,
        ) as error:
            raise ApplicationError(_csv_error_message(error)) from error
        finally:
            text.detach()


def _check_columns_exist(columns: list[str], available: list[str]) -> None:
    missing = [name for name in columns if name not in available]
    if missing:
        raise ApplicationError(
            _("El conjunto de datos no tiene las columnas: %s.") % ", ".join(missing)
        )


def frame_preview(frame: pd.DataFrame, *, rows: int) -> dict[str, Any]:
    head = frame.head(rows)
    return {
        "columns": [str(name) for name in head.columns],
        "rows": [[json_safe(value) for value in row] for row in head.itertuples(index=False)],
    }


# --- reading --------------------------------------------------------------------------------


@contextmanager
def _binary(source: Source) -> Iterator[IO[bytes]]:
    """A binary handle at position 0: opened (and closed) here for a path, rewound otherwise."""
    if isinstance(source, str | Path):
        with open(source, "rb") as handle:
            yield handle
        return
    source.seek(0)
    try:
        yield source
    finally:
        source.seek(0)


def _read_csv(
    handle: IO[bytes], *, encoding: str, delimiter: str, usecols: Any = None
) -> pd.DataFrame:
    # A text wrapper of our own: pandas must neither close nor keep the caller's handle.
    text = io.TextIOWrapper(handle, encoding=encoding, newline="")
    try:
        with warnings.catch_warnings():
            # Rows longer than the header would be silently cut (or used as an index).
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(text, sep=delimiter, index_col=False, usecols=usecols, engine="c")
    except pd.errors.EmptyDataError as error:
        raise ApplicationError(_("El archivo está vacío.")) from error
    except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError, csv.Error) as error:
        raise ApplicationError(_csv_error_message(error)) from error
    finally:
        text.detach()


def _csv_error_message(error: Exception) -> str:
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
    if match:
        expected, line, seen = match.groups()
        return _(
            "No se pudo leer el CSV: la línea %(line)s tiene %(seen)s campos y la cabecera "
            "tiene %(expected)s."
        ) % {"line": line, "seen": seen, "expected": expected}
    if isinstance(error, pd.errors.ParserWarning):
        return _(
            "No se pudo leer el CSV: hay filas con más campos que la cabecera. "
            "Revise el separador y las comillas."
        )
    return _("No se pudo leer el CSV: el archivo está mal formado.")


def _read_parquet(handle: IO[bytes], *, columns: list[str] | None = None) -> pd.DataFrame:
    return pq.read_table(handle, columns=columns).to_pandas()


def _read_parquet_checked(handle: IO[bytes]) -> pd.DataFrame:
    handle.seek(0)
    try:
        parquet = pq.ParquetFile(handle)
        names, metadata = parquet.schema_arrow.names, parquet.metadata
    except (pa.ArrowException, OSError, ValueError) as error:
        raise ApplicationError(
            _("No se pudo leer el archivo Parquet: está dañado o incompleto.")
        ) from error
    _check_header(names)
    _check_parquet_expansion(metadata)
    handle.seek(0)
    try:
        return _read_parquet(handle)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise ApplicationError(
            _("No se pudo leer el archivo Parquet: está dañado o incompleto.")
        ) from error


def _check_parquet_expansion(metadata) -> None:
    """A compression bomb (a small file of millions of equal values) is refused from its
    metadata, before a byte of it is decompressed: in memory every value takes at least
    8 bytes, whatever the file's encoding and compression."""
    expanded = metadata.num_rows * metadata.num_columns * 8
    limit_mb = settings.DATASET_MAX_EXPANDED_MB
    if expanded > limit_mb * 1024 * 1024:
        raise ApplicationError(
            _(
                "El archivo Parquet ocupa unos %(size)d MB sin comprimir; el límite es "
                "%(max)d MB. Suba un archivo más pequeño."
            )
            % {"size": expanded // (1024 * 1024), "max": limit_mb}
        )


def _reject_binary(head: bytes) -> None:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ApplicationError(
            _("El CSV está codificado en UTF-16: guárdelo como UTF-8 (o CSV de Windows).")
        )
    for signature, kind in BINARY_SIGNATURES:
        if head.startswith(signature):
            raise ApplicationError(
                _(
                    "El archivo no es CSV ni Parquet (parece %(kind)s). "
                    "Suba un archivo .csv o .parquet."
                )
                % {"kind": kind}
            )
    # Text never holds NUL bytes, and hardly any other control character.
    controls = sum(1 for byte in head if byte < 32 and byte not in b"\t\n\r\f")
    if b"\x00" in head or controls > len(head) / 100:
        raise ApplicationError(
            _("El archivo no es CSV ni Parquet: contiene datos binarios. Suba un .csv o .parquet.")
        )


def _detect_encoding_and_digest(handle: IO[bytes]) -> tuple[str, str]:
    """The encoding (see ``_detect_encoding``) and the digest, in the same first pass over the
    bytes: UTF-8 is tried on every chunk the digest reads, to the end."""
    handle.seek(0)
    digest = StreamDigest()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    while chunk := handle.read(DECODE_CHUNK_BYTES):
        digest.update(chunk)
        if utf8:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    return (
        "utf-8" if utf8 else _detect_encoding(handle, FALLBACK_ENCODINGS[:-1])
    ), digest.hexdigest()


def _detect_encoding(
    handle: IO[bytes], candidates: tuple[str, ...] = ("utf-8", *FALLBACK_ENCODINGS[:-1])
) -> str:
    """UTF-8 when the whole file decodes as UTF-8; else cp1252; else latin-1 (never fails)."""
    for encoding in candidates:
        handle.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            while chunk := handle.read(DECODE_CHUNK_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    return FALLBACK_ENCODINGS[-1]


def _csv_header(text: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    except csv.Error as error:
        raise ApplicationError(_csv_error_message(error)) from error


# --- validation -----------------------------------------------------------------------------


def _check_column_count(count: int) -> None:
    if count > settings.DATASET_MAX_COLUMNS:
        raise ApplicationError(
            # No count: a header longer than the sampled head is only seen in part there.
            _("El archivo tiene más columnas de las permitidas (%(max)d como máximo).")
            % {"max": settings.DATASET_MAX_COLUMNS}
        )


def _check_header(names: list[str]) -> None:
    """Checks on the raw header: pandas would rename duplicates (a.1) and blanks (Unnamed: 1)."""
    _check_column_count(len(names))
    if len(names) < 2:
        raise ApplicationError(
            _(
                "El archivo debe tener al menos dos columnas (se encontró %(count)d). "
                "Revise el separador."
            )
            % {"count": len(names)}
        )
    stripped = [str(name).strip() for name in names]
    if any(not name for name in stripped):
        positions = ", ".join(str(index) for index, name in enumerate(stripped, 1) if not name)
        raise ApplicationError(
            _("La cabecera tiene columnas sin nombre (posición %(positions)s).")
            % {"positions": positions}
        )
    seen: set[str] = set()
    duplicates: list[str] = []
    for name in stripped:
        if name in seen and name not in duplicates:
            duplicates.append(name)
        seen.add(name)
    if duplicates:
        raise ApplicationError(
            _("La cabecera tiene nombres de columna repetidos: %(names)s.")
            % {"names": ", ".join(duplicates)}
        )


def _check_frame(frame: pd.DataFrame) -> None:
    # Again on the whole header: a header longer than the sampled head was cut there.
    _check_column_count(len(frame.columns))
    if len(frame.columns) < 2:
        raise ApplicationError(
            _(
                "El archivo debe tener al menos dos columnas (se encontró %(count)d). "
                "Revise el separador."
            )
            % {"count": len(frame.columns)}
        )
    if len(frame) == 0:
        raise ApplicationError(_("El archivo no tiene filas de datos, solo la cabecera."))


# --- profiling ------------------------------------------------------------------------------


def _profile_column(name: Any, series: pd.Series) -> ColumnProfile:
    kind = column_kind(series)
    missing = int(series.isna().sum())
    unique = int(series.nunique(dropna=True))
    id_like = id_like_from_counts(kind=kind, rows=len(series), missing=missing, unique=unique)
    if not id_like and is_row_number_candidate(
        dtype=str(series.dtype), rows=len(series), missing=missing, unique=unique
    ):
        id_like = ID_ROW_NUMBER if is_row_number(series) else ""
    return ColumnProfile(
        name=str(name),
        dtype=str(series.dtype),
        kind=kind,
        missing=missing,
        unique=unique,
        id_like=id_like,
    )


def id_like_from_counts(*, kind: str, rows: int, missing: int, unique: int) -> str:
    """ID_DISTINCT_TEXT for a text column whose values are (almost) all different.

    Decided from the profile's counts alone, so a stored schema answers it without the file.
    Numbers are left alone: a measurement is naturally all different too.
    """
    present = rows - missing
    if kind == "text" and present >= 2 and unique >= ID_DISTINCT_RATIO * present:
        return ID_DISTINCT_TEXT
    return ""


def is_row_number_candidate(*, dtype: str, rows: int, missing: int, unique: int) -> bool:
    """An integer column with no gaps and no repeated value: it may count the rows."""
    return (
        dtype.lower().startswith(("int", "uint"))
        and rows >= 2
        and missing == 0
        and (unique == rows)
    )


def is_row_number(series: pd.Series) -> bool:
    """Each value is the previous one plus one (1, 2, 3... or 1000, 1001...)."""
    values = series.to_numpy()
    return len(values) >= 2 and bool((np.diff(values) == 1).all())


def column_kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series.dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "numeric"
    values = series.dropna()
    if values.empty:
        return "text"
    distinct = pd.unique(values)
    if all(_is_boolean_token(value) for value in distinct):
        return "boolean"
    as_text = values.astype(str).str.strip()
    if as_text.str.match(ISO_DATE).all():
        return "datetime"
    ratio = len(distinct) / len(values)
    if len(distinct) <= CATEGORICAL_MAX_UNIQUE and ratio <= CATEGORICAL_MAX_UNIQUE_RATIO:
        return "categorical"
    return "text"


def _is_boolean_token(value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return True
    return isinstance(value, str) and value.strip().lower() in BOOLEAN_TOKENS
