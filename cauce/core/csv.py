"""CSV helpers shared by the apps.

- One delimiter sniffer, so a file is split the same way wherever Cauce reads it (a dataset
  upload, a CSV artifact's preview).
- One writer for the CSV files Cauce produces (prediction results, a run's reports), with
  every cell made safe for spreadsheets (no formula runs when the file is opened).
"""

from __future__ import annotations

import csv
import io
import re
from typing import TYPE_CHECKING, Any

from cauce.core.values import json_safe

if TYPE_CHECKING:
    import pandas as pd

CANDIDATE_DELIMITERS = (",", ";", "\t", "|")
# How much of the start of a file the sniffer is given.
DELIMITER_SAMPLE_BYTES = 64 * 1024
# Of which it looks at the first lines only.
DELIMITER_SAMPLE_LINES = 200

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def sniff_delimiter(text: str) -> str:
    """The candidate delimiter that splits the sample's lines into the most consistent rows
    (the share of rows with as many fields as the header, then the most fields), with at
    least two fields in the header; "," when none does."""
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may end in the middle of a line
    sample = "\n".join(lines[:DELIMITER_SAMPLE_LINES])
    best, best_score = ",", (0.0, 0)
    for delimiter in CANDIDATE_DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(io.StringIO(sample), delimiter=delimiter)]
        except csv.Error:
            continue
        counts = [count for count in counts if count]
        if not counts:
            continue
        header_fields = counts[0]
        if header_fields < 2:
            continue
        agreeing = sum(1 for count in counts if count == header_fields) / len(counts)
        score = (agreeing, header_fields)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def csv_safe(value: Any) -> Any:
    """A cell a spreadsheet will not run: text starting with = + - @ gets a leading '."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


def csv_write(frame: pd.DataFrame, handle: io.TextIOBase, *, header: bool = True) -> None:
    """Write rows as CSV with every cell made safe for spreadsheets."""
    writer = csv.writer(handle, lineterminator="\n")
    if header:
        writer.writerow([csv_safe(str(name)) for name in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        writer.writerow([csv_safe(_csv_cell(value)) for value in row])


def _csv_cell(value: Any) -> Any:
    value = json_safe(value)
    return "" if value is None else value


def csv_unescape(value: str) -> str:
    """A cell of a result file as the user wrote it (the page shows it; the CSV keeps the ')."""
    if value.startswith("'") and value[1:].startswith(_FORMULA_START):
        return value[1:]
    return value
