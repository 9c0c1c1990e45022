"""Numbers as a person reads them: a few significant digits, in the page's language."""

import pytest
from django.template import Context, Template
from django.utils import translation

from cauce.core.numbers import significant


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
