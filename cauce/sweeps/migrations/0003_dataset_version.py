import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def existing_sweeps_latest_version(apps, schema_editor):
    """Sweeps from before versions trained on their dataset's latest file."""
    Sweep = apps.get_model("sweeps", "Sweep")
    Dataset = apps.get_model("datasets", "Dataset")
    Sweep.objects.filter(dataset_version__isnull=True).update(
        dataset_version=Subquery(
            Dataset.objects.filter(pk=OuterRef("dataset_id")).values("latest_version")[:1]
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0004_existing_datasets_version_1"),
        ("sweeps", "0002_trial_liveness_and_promotion"),
    ]

    operations = [
        migrations.AddField(
            model_name="sweep",
            name="dataset_version",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="sweeps",
                to="datasets.datasetversion",
                verbose_name="versión del conjunto de datos",
            ),
        ),
        migrations.RunPython(existing_sweeps_latest_version, migrations.RunPython.noop),
    ]
