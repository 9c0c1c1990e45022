"""Links that change one part of a list's filter (templates cannot call methods with
arguments), and durations as people read them."""

from datetime import datetime, timedelta

from django import template
from django.template.defaultfilters import floatformat
from django.utils import timezone
from django.utils.timesince import timesince
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
def ago(moment: datetime | None) -> str:
    """How long ago, said as a person would: "hace un momento" under a minute (timesince
    alone reads "hace 0 minutos"), else "hace 5 minutos"."""
    if moment is None:
        return ""
    if timezone.now() - moment < timedelta(minutes=1):
        return _("hace un momento")
    return _("hace %(since)s") % {"since": timesince(moment)}
