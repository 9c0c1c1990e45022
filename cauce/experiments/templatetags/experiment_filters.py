"""Links that change one part of a list's filter (templates cannot call methods with
arguments), and durations and metrics as people read them."""

from datetime import datetime, timedelta

from django import template
from django.template.defaultfilters import floatformat
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

from cauce.core import numbers
from cauce.experiments.selectors import DEFAULT_ORDERING, ExperimentFilters

register = template.Library()


@register.simple_tag
def query_with_tag(filters: ExperimentFilters, tag: str) -> str:
    return filters.with_tag(tag)


@register.simple_tag
def query_without_tag(filters: ExperimentFilters, tag: str) -> str:
    return filters.without_tag(tag)


# Sorted best or newest first on the first click; the other columns A to Z.
DESCENDING_FIRST = ("created", "main_metric")


@register.inclusion_tag("experiments/_sort_header.html", takes_context=True)
def sort_header(context, filters: ExperimentFilters | None, key: str, label: str, **attrs):
    """A column header that sorts the list by ``key`` (again: the other way round), with the
    filters and the page size kept, back on the first page; ``aria-sort`` on the sorted one."""
    if not isinstance(filters, ExperimentFilters):
        filters = None  # a table without a list's controls (a project's, a dataset's page)
    current = (filters.ordering if filters else "") or DEFAULT_ORDERING
    active = current.removeprefix("-") == key
    descending = current.startswith("-")
    if active:
        following = key if descending else f"-{key}"
    else:
        following = f"-{key}" if key in DESCENDING_FIRST else key
    query = ""
    if filters is not None:
        query = filters.query(ordering=following if following != DEFAULT_ORDERING else "")
        per_page = context.get("per_page_query", "")
        query = "&".join(part for part in (query, per_page) if part)
    return {
        "sortable": filters is not None,
        "label": label,
        "key": key,
        "href": f"?{query}" if query else "?",
        "aria_sort": ("descending" if descending else "ascending") if active else "",
        "css_class": attrs.get("css_class", ""),
        "title": attrs.get("title", ""),
    }


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
    """``0,877`` for 0.8769642857142856: ``digits`` significant digits in the page's locale,
    trailing zeros kept (``cauce.core.numbers.significant``); the full value goes in a title
    (``metric_full``)."""
    return numbers.significant(value, int(digits), keep_zeros=True)


@register.filter
def metric_full(value: float | None) -> str:
    """Every digit of the value, in the page's locale (for a title on hover)."""
    if value is None or value == "":
        return ""
    return number_format(float(value))


@register.filter
def ago(moment: datetime | None) -> str:
    """How long ago, said as a person would: "hace un momento" under a minute (timesince
    alone reads "hace 0 minutos"), else "hace 5 minutos"."""
    if moment is None:
        return ""
    if timezone.now() - moment < timedelta(minutes=1):
        return _("hace un momento")
    return _("hace %(since)s") % {"since": timesince(moment)}
