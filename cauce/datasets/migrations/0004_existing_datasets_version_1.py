"""Every dataset uploaded before versions existed becomes its version 1.

The digest is computed here, streaming each stored file through the storage API in 1 MB
chunks (bounded memory, about a second per GB); a file that cannot be read keeps an empty
digest (its version is then never matched by a re-upload).
"""

import logging

from django.db import migrations

from cauce.datasets.digests import digest_handle

logger = logging.getLogger(__name__)

FILE_FIELDS = (
    "original_filename",
    "file_format",
    "encoding",
    "delimiter",
    "size_bytes",
    "row_count",
    "column_count",
    "schema",
    "preview",
    "statistics",
)


def _digest(dataset) -> str:
    try:
        with dataset.file.open("rb") as handle:
            return digest_handle(handle)
    except (OSError, ValueError):
        logger.warning("Dataset %s: its file could not be read for its digest", dataset.pk)
        return ""


def forwards(apps, schema_editor):
    Dataset = apps.get_model("datasets", "Dataset")
    DatasetVersion = apps.get_model("datasets", "DatasetVersion")
    for dataset in Dataset.objects.filter(latest_version__isnull=True).iterator():
        version = DatasetVersion(
            dataset=dataset,
            version=1,
            file=dataset.file.name,
            digest=_digest(dataset),
            created_by_id=dataset.uploaded_by_id,
            **{name: getattr(dataset, name) for name in FILE_FIELDS},
        )
        version.save()
        # auto_now_add set it to now: the version is as old as the upload.
        DatasetVersion.objects.filter(pk=version.pk).update(created_at=dataset.created_at)
        Dataset.objects.filter(pk=dataset.pk).update(latest_version=version, versions_created=1)


def backwards(apps, schema_editor):
    Dataset = apps.get_model("datasets", "Dataset")
    Dataset.objects.update(latest_version=None, versions_created=0)
    apps.get_model("datasets", "DatasetVersion").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0003_dataset_versions"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
