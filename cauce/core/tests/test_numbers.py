"""Numbers as a person reads them: a few significant digits, in the page's language."""

import pytest
from django.template import Context, Template
from django.utils import translation

from cauce.core.numbers import TypedNumberError, significant, typed_number_text


@pytest.mark.parametrize(
    ("value", "spanish", "english"),
    [
        (0.8769642857142856, "0,877", "0.877"),
        ("0.8769642857142856", "0,877", "0.877"),
        (0.5, "0,5", "0.5"),
        (1.0, "1", "1"),
        (0, "0", "0"),
        (1234.5678, "1235", "1235"),
        (-0.000123456, "-0,0001235", "-0.0001235"),
        (1e-12, "0", "0"),
        ("setosa", "setosa", "setosa"),
        ("nan", "nan", "nan"),
    ],
)
def test_significant_rounds_and_localizes(value, spanish, english):
    with translation.override("es"):
        assert significant(value) == spanish
    with translation.override("en"):
        assert significant(value) == english


def test_the_template_filter_takes_the_digits():
    template = Template("{% load cauce_numbers %}{{ value|significant }} {{ value|significant:2 }}")
    with translation.override("es"):
        assert template.render(Context({"value": 0.8769642857142856})) == "0,877 0,88"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("0.8769642857142856", "0,877"),
        ("5.1", "5,1"),
        ("1e-05", "0,00001"),
        ("00123", "00123"),  # a code, not a decimal
        ("42", "42"),
        ("setosa", "setosa"),
        ("1.2.3", "1.2.3"),
    ],
)
def test_decimal_text_localizes_decimals_only(text, shown):
    template = Template("{% load cauce_numbers %}{{ text|decimal_text }}")
    with translation.override("es"):
        assert template.render(Context({"text": text})) == shown


@pytest.mark.parametrize(
    ("language", "typed", "read"),
    [
        ("es", "0,5", "0.5"),
        ("es", "0.5", "0.5"),  # a dot is unambiguous here: nothing else it could mean
        ("es", "0.001", "0.001"),
        ("es", "1,000", "1.000"),  # the Spanish decimal comma
        ("es", "-2,5e-3", "-2.5e-3"),
        ("en", "0,5", "0.5"),
        ("en", "1.000", "1.000"),
        ("es", "None", "None"),  # not a number: the caller says so
    ],
)
def test_a_typed_number_reads_a_decimal_comma_or_dot(language, typed, read):
    with translation.override(language):
        assert typed_number_text(typed) == read


@pytest.mark.parametrize(
    ("language", "typed", "code"),
    [
        ("es", "1.000,5", "grouping"),
        ("en", "1,000.5", "grouping"),
        ("es", "1.000.000", "grouping"),
        ("es", "1.000", "ambiguous"),  # a thousand, as Spanish groups it, or one?
        ("en", "12,500", "ambiguous"),
    ],
)
def test_a_typed_number_with_grouping_is_refused(language, typed, code):
    with translation.override(language), pytest.raises(TypedNumberError) as refused:
        typed_number_text(typed)
    assert refused.value.code == code


def test_numeric_columns_are_told_by_the_column_not_the_value():
    from django.template import Context, Template

    from cauce.core.numbers import numeric_columns

    rows = [
        ["1", "0.25", "00123", "a", None],
        [2, "3", "00124", "1", ""],
        ["-4e3", "", "7", "", ""],
    ]
    assert numeric_columns(rows) == [True, True, False, False, False]

    html = Template(
        "{% load cauce_numbers %}{% for name, n in columns|header_kinds:rows %}"
        "<th{% if n %} class=num{% endif %}>{{ name }}</th>{% endfor %}"
        "{% for row in rows|cell_kinds %}{% for v, n in row %}"
        "<td{% if n %} class=num{% endif %}>{{ v }}</td>{% endfor %}{% endfor %}"
    ).render(Context({"columns": ["a", "b", "c", "d", "e"], "rows": rows}))
    assert "<th class=num>a</th><th class=num>b</th><th>c</th>" in html
    assert "<td class=num>2</td><td class=num>3</td><td>00124</td>" in html
