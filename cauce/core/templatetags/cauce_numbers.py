"""Numbers as a person reads them (see cauce.core.numbers): ``{{ value|significant }}``,
``{{ cell|decimal_text }}``."""

from django import template

from cauce.core import numbers

register = template.Library()


@register.filter
def significant(value, digits=numbers.SIGNIFICANT_DIGITS):
    return numbers.significant(value, int(digits))


@register.filter
def decimal_text(value):
    return numbers.decimal_text(value)
