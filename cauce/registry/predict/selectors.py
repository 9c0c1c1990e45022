"""Reads of prediction jobs, scoped through the registered model's project."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.http import Http404

from cauce.integrations.mlflow import registry as mlflow_registry
from cauce.integrations.mlflow.registry import ModelSignature, ModelVersionInfo
from cauce.registry.models import PredictionJob, RegisteredModel
from cauce.registry.selectors import registered_model_get_for_user


def prediction_job_get_for_user(*, user: AbstractBaseUser, name: str, job_id: Any) -> PredictionJob:
    """A job of the named model; 404 for outsiders, unknown jobs, or another model's job."""
    model, _membership = registered_model_get_for_user(user=user, name=name)
    job = prediction_job_of_model(model=model, job_id=job_id)
    if job is None:
        raise Http404
    return job


def prediction_job_of_model(*, model: RegisteredModel, job_id: Any) -> PredictionJob | None:
    """The model's job, or None (never made, another model's, or deleted when it expired)."""
    return (
        PredictionJob.objects.select_related("registered_model__project", "created_by")
        .filter(pk=job_id, registered_model=model)
        .first()
    )


def prediction_jobs_recent(*, model: RegisteredModel, limit: int) -> list[PredictionJob]:
    return list(
        PredictionJob.objects.filter(registered_model=model).select_related("created_by")[:limit]
    )


def prediction_versions(*, model: RegisteredModel) -> list[ModelVersionInfo]:
    """The model's versions in MLflow, newest first, with their aliases (the page's choices)."""
    return mlflow_registry.model_versions_list(name=model.name)


def prediction_signature(*, version: ModelVersionInfo) -> ModelSignature | None:
    """The input and output columns of the version's MLmodel; None when it has none."""
    return mlflow_registry.model_signature_get(source=version.source)
