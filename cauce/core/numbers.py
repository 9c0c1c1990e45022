"""Numbers as a person reads them: a few significant digits, in the active language's format.

The full value stays where a machine or a curious reader needs it (a title on hover, the CSV
download, the API); this is only for display.
"""

from __future__ import annotations

import math
import re
from typing import Any

from django.utils.formats import number_format

SIGNIFICANT_DIGITS = 4
# Past this many decimals a value is shown as 0 (or its sign): no scientific notation on a page.
MAX_DECIMALS = 8


def as_number(value: Any) -> float | None:
    """``value`` as a finite float (a number or a numeric text), else None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def significant(value: Any, digits: int = SIGNIFICANT_DIGITS, *, keep_zeros: bool = False) -> str:
    """``value`` rounded to ``digits`` significant digits, in the active language's format,
    without trailing zeros: 0.8769642857142856 reads "0,877" in Spanish and "0.877" in
    English; an integer part is never cut (1234.56 reads "1235"). Text that is not a number
    comes back unchanged. ``keep_zeros`` keeps the trailing zeros, so that a column of values
    has one precision ("0,950" beside "0,877")."""
    number = as_number(value)
    if number is None:
        return "" if value is None else str(value)
    if number == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(number)))
    decimals = min(max(digits - 1 - magnitude, 0), MAX_DECIMALS)
    rounded = round(number, decimals)
    text = number_format(rounded, decimal_pos=decimals, use_l10n=True, force_grouping=False)
    if decimals and not keep_zeros:
        separator = number_format(0.5, decimal_pos=1, use_l10n=True)[1]
        text = text.rstrip("0").rstrip(separator)
    return "0" if text in ("-0", "") else text


def fixed(value: Any, decimals: int = 3) -> str:
    """A number with exactly ``decimals`` decimals, localized (a column of probabilities
    lines up: 1,000 / 0,640 / 0,360); text that is not a number unchanged."""
    number = as_number(value)
    if number is None:
        return "" if value is None else str(value)
    return number_format(round(number, decimals), decimal_pos=decimals, use_l10n=True)


# A number as a machine writes it (an integer, a decimal with a dot, maybe an exponent).
NUMBER_TEXT = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
# A code such as 00123 or 007: digits, but not a quantity.
CODE_TEXT = re.compile(r"^\s*0\d")


def is_number_cell(value: Any) -> bool:
    """A table cell that holds a number (not a code such as 00123, not a boolean)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return math.isfinite(value)
    if isinstance(value, str):
        return bool(NUMBER_TEXT.match(value)) and not CODE_TEXT.match(value)
    return False


def numeric_columns(rows: list[list[Any]], width: int | None = None) -> list[bool]:
    """Per column of ``rows``: whether it is a numeric column (every non-empty cell a number,
    at least one), so the whole column aligns right, whatever each value looks like."""
    width = max((len(row) for row in rows), default=0) if width is None else width
    kinds = []
    for index in range(width):
        cells = [row[index] for row in rows if index < len(row)]
        filled = [cell for cell in cells if cell is not None and str(cell).strip() != ""]
        kinds.append(bool(filled) and all(is_number_cell(cell) for cell in filled))
    return kinds


# A decimal as a machine writes it (a dot, maybe an exponent); integers and codes such as 00123
# are not matched.
DECIMAL_TEXT = re.compile(r"^\s*[-+]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][-+]?\d+)\s*$")


def decimal_text(value: Any) -> Any:
    """A cell of a text table (a CSV): a decimal reads in the page's format, rounded
    (``significant``); anything else comes back unchanged."""
    if isinstance(value, str) and DECIMAL_TEXT.match(value):
        return significant(value)
    return value


# A number as typed in a form field: sign, digits with dots or commas, an exponent.
_TYPED_NUMBER = re.compile(r"[+-]?[\d.,]*\d[\d.,]*(?:[eE][+-]?\d+)?")
_SEPARATORS = re.compile(r"[.,]")
# One separator after a short integer part and exactly three digits: "1.000", "12,500".
_GROUPING_LIKE = re.compile(r"[+-]?[1-9]\d{0,2}[.,]\d{3}")


class TypedNumberError(ValueError):
    """A typed number whose separators can be read two ways (``code``: "grouping" when it has
    more than one separator, "ambiguous" when its only one may group thousands)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def typed_number_text(text: str) -> str:
    """Text typed in a number field as Python reads it, in either language: one decimal
    separator, a comma or a dot ("0,5" and "0.5" are 0.5 on the Spanish and the English page).
    Refused (TypedNumberError): two separators ("1.000,5", "1,000,000"), or one that the
    page's language uses to group thousands, with three digits after it and no zero before
    ("1.000" on the Spanish page, "1,000" on the English one). Other text comes back as
    typed (a word, a token such as "None"): the caller says it is not a number."""
    text = text.strip()
    if not _TYPED_NUMBER.fullmatch(text):
        return text
    separators = _SEPARATORS.findall(text)
    if len(separators) > 1:
        raise TypedNumberError("grouping")
    decimal_separator = number_format(0.5, decimal_pos=1, use_l10n=True)[1]
    if separators and separators[0] != decimal_separator and _GROUPING_LIKE.fullmatch(text):
        raise TypedNumberError("ambiguous")
    return text.replace(",", ".")
