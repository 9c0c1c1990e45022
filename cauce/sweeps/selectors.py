"""Reads of sweeps, each checked against the user's role on the sweep's project."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import Http404

from cauce.projects.models import Membership, Project, Role
from cauce.projects.selectors import require_role
from cauce.sweeps.models import Sweep, Trial


def sweep_get_for_user(
    *, user: AbstractBaseUser, sweep_id: Any, role: str = Role.VIEWER
) -> tuple[Sweep, Membership]:
    """The sweep and the user's membership; 404 for outsiders (and missing sweeps)."""
    sweep = (
        Sweep.objects.select_related("project", "dataset", "dataset_version__dataset")
        .filter(pk=sweep_id)
        .first()
    )
    if sweep is None:
        raise Http404
    return sweep, require_role(user=user, project=sweep.project, role=role)


def sweep_list(*, project: Project) -> QuerySet[Sweep]:
    return (
        Sweep.objects.filter(project=project)
        .select_related("dataset", "dataset_version__dataset")
        .order_by("-created_at")
    )


def sweep_trials(*, sweep: Sweep) -> list[Trial]:
    return list(Trial.objects.filter(sweep=sweep).order_by("number"))
