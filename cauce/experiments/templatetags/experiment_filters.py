"""Links that change one part of a list's filter (templates cannot call methods with arguments)."""

from django import template

from cauce.experiments.selectors import ExperimentFilters

register = template.Library()


@register.simple_tag
def query_with_tag(filters: ExperimentFilters, tag: str) -> str:
    return filters.with_tag(tag)


@register.simple_tag
def query_without_tag(filters: ExperimentFilters, tag: str) -> str:
    return filters.without_tag(tag)
