"""Admin pages. Every edit of an experiment's tags, name or description goes through the
services' rules and the tag sync outbox, as on the page and in the API."""

import json

from django import forms
from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from taggit.admin import TagAdmin
from taggit.models import Tag

from cauce.core.exceptions import ApplicationError
from cauce.experiments.models import MLExperiment, TaggedExperiment, TagSyncState
from cauce.experiments.tag_sync import experiment_tags_set, tag_sync_record_change
from cauce.experiments.tags import tags_normalize


class MLExperimentAdminForm(forms.ModelForm):
    class Meta:
        model = MLExperiment
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose what is shown

    def clean_tags(self) -> list[str]:
        try:
            return tags_normalize(self.cleaned_data.get("tags") or [])
        except ApplicationError as error:
            raise forms.ValidationError(str(error.message)) from None


@admin.register(MLExperiment)
class MLExperimentAdmin(admin.ModelAdmin):
    form = MLExperimentAdminForm
    list_display = ["name", "project", "status", "stage", "algorithm", "created_at"]
    list_filter = ["status", "task_type", "project"]
    search_fields = ["name", "mlflow_run_id", "project__name"]
    list_select_related = ["project"]
    raw_id_fields = ["project", "dataset", "created_by"]
    date_hierarchy = "created_at"
    # Written by the worker and by MLflow: editing them here would break the link to the run.
    readonly_fields = [
        "mlflow_experiment_id",
        "mlflow_run_id",
        "mlflow_model_id",
        "mlflow_model_uri",
        "metrics_json",
        "attempts",
        "heartbeat_at",
        "queued_at",
        "started_at",
        "finished_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["project", "name", "description", "tags", "created_by"]}),
        (
            "Configuración",
            {
                "fields": [
                    "dataset",
                    "target_column",
                    "feature_columns",
                    "task_type",
                    "algorithm",
                    "hyperparameters",
                    "test_size",
                    "random_state",
                ]
            },
        ),
        (
            "Ejecución",
            {
                "fields": [
                    "status",
                    "stage",
                    "error",
                    "attempts",
                    "heartbeat_at",
                    "queued_at",
                    "started_at",
                    "finished_at",
                    "metrics_json",
                ]
            },
        ),
        (
            "MLflow",
            {
                "fields": [
                    "mlflow_experiment_id",
                    "mlflow_run_id",
                    "mlflow_model_id",
                    "mlflow_model_uri",
                ]
            },
        ),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.display(description=_("métricas"))
    def metrics_json(self, experiment: MLExperiment) -> str:
        """The stored metrics whole, as the JSON they are (a code block, not prose)."""
        return format_html("<pre>{}</pre>", json.dumps(experiment.metrics, indent=2))

    def save_related(self, request, form, formsets, change) -> None:
        """Tags through the service (rules and outbox); a name or description change too."""
        tags = form.cleaned_data.pop("tags", None)
        super().save_related(request, form, formsets, change)
        experiment = form.instance
        if tags is not None:
            experiment_tags_set(experiment=experiment, tags=tags)
        if change and {"name", "description"} & set(form.changed_data):
            tag_sync_record_change(experiment=experiment)


@admin.register(TaggedExperiment)
class TaggedExperimentAdmin(admin.ModelAdmin):
    """Which experiment carries which tag (taggit's own admin lists the tags themselves)."""

    list_display = ["tag", "object_id"]
    list_filter = ["tag"]
    search_fields = ["tag__name", "object_id"]
    list_select_related = ["tag"]
    raw_id_fields = ["tag"]

    def save_model(self, request, obj, form, change) -> None:
        previous = TaggedExperiment.objects.filter(pk=obj.pk).values_list("object_id", flat=True)
        before = list(previous) if change else []
        super().save_model(request, obj, form, change)
        for experiment_id in {obj.object_id, *before}:
            _record(experiment_id)

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        _record(obj.object_id)

    def delete_queryset(self, request, queryset) -> None:
        experiment_ids = set(queryset.values_list("object_id", flat=True))
        super().delete_queryset(request, queryset)
        for experiment_id in experiment_ids:
            _record(experiment_id)


def _record(experiment_id) -> None:
    experiment = MLExperiment.objects.filter(pk=experiment_id).first()
    if experiment is not None:
        tag_sync_record_change(experiment=experiment)


class TagNameForm(forms.ModelForm):
    class Meta:
        model = Tag
        fields = ["name", "slug"]

    def clean_name(self) -> str:
        try:
            names = tags_normalize([self.cleaned_data.get("name") or ""])
        except ApplicationError as error:
            raise forms.ValidationError(str(error.message)) from None
        if not names:
            raise forms.ValidationError(forms.Field.default_error_messages["required"])
        return names[0]


# taggit's own admin renames a tag for every experiment at once: same rules, and each of them
# gets its run updated.
admin.site.unregister(Tag)


@admin.register(Tag)
class SyncedTagAdmin(TagAdmin):
    form = TagNameForm
    # taggit's inline edits its generic TaggedItem, which experiments do not use.
    inlines = []

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change:
            for experiment_id in _tagged_experiments(obj):
                _record(experiment_id)

    def delete_model(self, request, obj) -> None:
        experiment_ids = _tagged_experiments(obj)
        super().delete_model(request, obj)
        for experiment_id in experiment_ids:
            _record(experiment_id)

    def delete_queryset(self, request, queryset) -> None:
        experiment_ids = set(
            TaggedExperiment.objects.filter(tag__in=queryset).values_list("object_id", flat=True)
        )
        super().delete_queryset(request, queryset)
        for experiment_id in experiment_ids:
            _record(experiment_id)


def _tagged_experiments(tag: Tag) -> list:
    return list(TaggedExperiment.objects.filter(tag=tag).values_list("object_id", flat=True))


@admin.register(TagSyncState)
class TagSyncStateAdmin(admin.ModelAdmin):
    """Read-only: the outbox is written by the services and the workers."""

    list_display = ["experiment", "version", "synced_version", "synced_at", "attempts"]
    search_fields = ["experiment__name", "synced_run_id"]
    list_select_related = ["experiment"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
