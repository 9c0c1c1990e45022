"""Numbers as a person reads them (see cauce.core.numbers): ``{{ value|significant }}``,
``{{ cell|decimal_text }}``; a table's numeric columns aligned as a whole:
``{% for name, numeric in columns|header_kinds:rows %}`` and
``{% for row in rows|cell_kinds %}{% for value, numeric in row %}``."""

from django import template

from cauce.core import numbers

register = template.Library()


@register.filter
def significant(value, digits=numbers.SIGNIFICANT_DIGITS):
    return numbers.significant(value, int(digits))


@register.filter
def decimal_text(value):
    return numbers.decimal_text(value)


@register.filter
def header_kinds(columns, rows) -> list[tuple[object, bool]]:
    """(name, numeric) per column of a table."""
    columns = list(columns)
    return list(zip(columns, numbers.numeric_columns(list(rows), len(columns)), strict=True))


@register.filter
def cell_kinds(rows) -> list[list[tuple[object, bool]]]:
    """Each row's cells as (value, numeric), numeric by the column's kind, not the value's."""
    rows = [list(row) for row in rows]
    kinds = numbers.numeric_columns(rows)
    return [[(value, kinds[index]) for index, value in enumerate(row)] for row in rows]


@register.filter
def numbered_header_kinds(columns, rows) -> list[tuple[object, bool]]:
    """``header_kinds`` for rows given as (number, cells)."""
    return header_kinds(columns, [cells for _number, cells in rows])


@register.filter
def numbered_cell_kinds(rows) -> list[tuple[object, list[tuple[object, bool]]]]:
    """``cell_kinds`` for rows given as (number, cells)."""
    rows = list(rows)
    kinds = cell_kinds([cells for _number, cells in rows])
    return [(number, cells) for (number, _cells), cells in zip(rows, kinds, strict=True)]
