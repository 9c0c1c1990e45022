"""The migration that makes every dataset from before versions its version 1 (with the digest
of its stored file) and points its experiments at it."""

import hashlib

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("datasets", "0002_dataset_statistics"), ("experiments", "0006_running_label")]
AFTER = [("datasets", "0004_existing_datasets_version_1"), ("experiments", "0007_dataset_version")]
CONTENT = b"a,b\n1,x\n2,y\n"


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_old_datasets_become_version_1_and_their_experiments_point_at_it(media_root):
    apps = _migrate(BEFORE)
    try:
        user = apps.get_model("auth", "User").objects.create(username="antes")
        project = apps.get_model("projects", "Project").objects.create(name="Antes")
        Dataset = apps.get_model("datasets", "Dataset")
        common = {
            "project": project,
            "original_filename": "a.csv",
            "file_format": "csv",
            "size_bytes": len(CONTENT),
            "row_count": 2,
            "column_count": 2,
            "uploaded_by": user,
        }
        stored = default_storage.save("datasets/old.csv", ContentFile(CONTENT))
        kept = Dataset.objects.create(name="Guardado", file=stored, **common)
        lost = Dataset.objects.create(name="Perdido", file="datasets/gone.csv", **common)
        experiment = apps.get_model("experiments", "MLExperiment").objects.create(
            project=project, dataset=kept, name="Viejo", target_column="b", task_type="x"
        )

        apps = _migrate(AFTER)

        versions = apps.get_model("datasets", "DatasetVersion").objects
        version = versions.get(dataset_id=kept.pk)
        assert version.version == 1
        assert version.digest == hashlib.sha256(CONTENT).hexdigest()[:32]
        assert version.file.name == stored
        assert version.created_by_id == user.pk
        # A file that cannot be read leaves an empty digest, and the dataset still versioned.
        assert versions.get(dataset_id=lost.pk).digest == ""
        datasets = apps.get_model("datasets", "Dataset").objects
        assert datasets.get(pk=kept.pk).latest_version_id == version.pk
        migrated = apps.get_model("experiments", "MLExperiment").objects.get(pk=experiment.pk)
        assert migrated.dataset_version_id == version.pk
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
