"""Links that change one part of a list's filter (templates cannot call methods with
arguments), and durations and metrics as people read them."""

import math
from datetime import timedelta

from django import template
from django.template.defaultfilters import floatformat
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from cauce.experiments.selectors import ExperimentFilters

register = template.Library()


@register.simple_tag
def query_with_tag(filters: ExperimentFilters, tag: str) -> str:
    return filters.with_tag(tag)


@register.simple_tag
def query_without_tag(filters: ExperimentFilters, tag: str) -> str:
    return filters.without_tag(tag)


@register.filter
def duration(value: timedelta | float | None) -> str:
    """``0,84 s``, ``37 s``, ``2 min 05 s``, ``1 h 02 min`` (seconds or a timedelta)."""
    if value is None or value == "":
        return ""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 10:
        return _("%(seconds)s s") % {"seconds": floatformat(seconds, 2)}
    if seconds < 60:
        return _("%(seconds)d s") % {"seconds": round(seconds)}
    whole = int(seconds)
    if whole < 3600:
        return _("%(minutes)d min %(seconds)02d s") % {
            "minutes": whole // 60,
            "seconds": whole % 60,
        }
    return _("%(hours)d h %(minutes)02d min") % {
        "hours": whole // 3600,
        "minutes": whole % 3600 // 60,
    }


@register.filter
def metric_number(value: float | None, digits: int = 3) -> str:
    """``0,877`` for 0.8769642857142856: ``digits`` significant digits in the page's locale
    (whole numbers keep all theirs). The full value goes in a title (``metric_full``)."""
    if value is None or value == "":
        return ""
    number = float(value)
    if not math.isfinite(number):
        return str(number)
    if number == 0:
        return number_format(0)
    decimals = max(0, int(digits) - 1 - math.floor(math.log10(abs(number))))
    return number_format(round(number, decimals), decimal_pos=decimals)


@register.filter
def metric_full(value: float | None) -> str:
    """Every digit of the value, in the page's locale (for a title on hover)."""
    if value is None or value == "":
        return ""
    return number_format(float(value))
