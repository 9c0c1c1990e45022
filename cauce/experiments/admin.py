from django.contrib import admin

from cauce.experiments.models import MLExperiment, TaggedExperiment


@admin.register(MLExperiment)
class MLExperimentAdmin(admin.ModelAdmin):
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
        "metrics",
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
                    "metrics",
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


@admin.register(TaggedExperiment)
class TaggedExperimentAdmin(admin.ModelAdmin):
    """Which experiment carries which tag (taggit's own admin lists the tags themselves)."""

    list_display = ["tag", "object_id"]
    list_filter = ["tag"]
    search_fields = ["tag__name", "object_id"]
    list_select_related = ["tag"]
    raw_id_fields = ["tag"]
