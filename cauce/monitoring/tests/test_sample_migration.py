"""The migration that stores daily samples as a keyed float64 table instead of JSON rows:
every stored row kept (numbers, text and missing values alike), keyed so that it merges with
new rows as if it had been keyed when offered; and back."""

import numpy as np
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from cauce.monitoring import sample as samples

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("monitoring", "0001_initial")]
AFTER = [("monitoring", "0002_sample_table")]
COLUMNS = ["a", "city", "b"]
ROWS = [
    [1765000000.5, 1.25, "Lima", None],
    [1765000100.0, None, None, 2],
    [1765000200.0, -3.0, "Quito", 4.5],
    [1765000300.0, 7.0, "Lima", 0.0],
]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_json_rows_become_a_keyed_table_and_back():
    apps = _migrate(BEFORE)
    try:
        project = apps.get_model("projects", "Project").objects.create(name="Antes")
        model = apps.get_model("registry", "RegisteredModel").objects.create(
            name="viejo", project=project
        )
        Sample = apps.get_model("monitoring", "ReservoirSample")
        old = Sample.objects.create(
            registered_model=model, version=1, day="2026-12-05", columns=COLUMNS,
            rows=ROWS, seen=400,
        )  # fmt: skip
        empty = Sample.objects.create(registered_model=model, version=2, day="2026-12-05")

        apps = _migrate(AFTER)

        Sample = apps.get_model("monitoring", "ReservoirSample")
        stored = Sample.objects.get(pk=old.pk)
        assert stored.seen == 400 and stored.columns == COLUMNS
        read = samples.decoded(stored.table, stored.columns, stored.texts)
        assert read.stamps.tolist() == [row[0] for row in ROWS]
        np.testing.assert_array_equal(read.values[0], [1.25, np.nan, -3.0, 7.0])
        assert read.values[1].tolist() == ["Lima", None, "Quito", "Lima"]
        np.testing.assert_array_equal(read.values[2], [np.nan, 2.0, 4.5, 0.0])
        # 4 rows kept of 400: keyed as the 4 smallest of 400 uniform keys (about 0.01; one
        # over 0.1 has a chance of about 1 in 10^14).
        assert len(set(read.keys.tolist())) == 4 and 0 < read.keys.max() < 0.1
        assert len(samples.decoded(Sample.objects.get(pk=empty.pk).table, [], {})) == 0

        apps = _migrate(BEFORE)

        back = apps.get_model("monitoring", "ReservoirSample").objects.get(pk=old.pk)
        assert back.rows == [[row[0], row[1], row[2], row[3]] for row in ROWS]
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
