"""Daily samples stored as one float64 table with a random key per row (``monitoring.sample``)
instead of JSON rows: the rows of each stored sample are kept, each given the key it would
have had (the sample was uniform over ``seen`` rows: its keys are drawn as the smallest of
``seen`` uniform keys). Backwards, the rows become JSON again and the keys are dropped.

The conversion is written out here, not imported, so that it stays what it was when the
stored format changes again."""

import numpy as np
import pandas as pd
from django.db import migrations, models

LEADING = 2  # key, epoch seconds


def _keys(kept, seen, rng):
    if kept == 0:
        return np.empty(0)
    seen = max(seen, kept)
    largest = rng.beta(kept, seen - kept + 1)
    keys = rng.random(kept) * largest
    keys[rng.integers(kept)] = largest
    return keys


def _is_number(value):
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def rows_to_table(apps, schema_editor):
    ReservoirSample = apps.get_model("monitoring", "ReservoirSample")
    rng = np.random.default_rng()
    for sample in ReservoirSample.objects.iterator(chunk_size=20):
        rows = [row for row in sample.rows if len(row) == LEADING - 1 + len(sample.columns)]
        table = np.empty((LEADING + len(sample.columns), len(rows)), dtype="<f8")
        table[0] = _keys(len(rows), sample.seen, rng)
        table[1] = [row[0] for row in rows]
        texts = {}
        for position, name in enumerate(sample.columns, start=1):
            cells = [row[position] for row in rows]
            if all(_is_number(cell) for cell in cells):
                table[LEADING + position - 1] = [np.nan if c is None else c for c in cells]
                continue
            values = np.array([None if c is None else str(c) for c in cells], dtype=object)
            codes, distinct = pd.factorize(values)
            table[LEADING + position - 1] = np.where(codes < 0, np.nan, codes)
            texts[name] = [str(value) for value in distinct]
        sample.table = table.tobytes()
        sample.texts = texts
        sample.save(update_fields=["table", "texts"])


def table_to_rows(apps, schema_editor):
    ReservoirSample = apps.get_model("monitoring", "ReservoirSample")
    for sample in ReservoirSample.objects.iterator(chunk_size=20):
        width = LEADING + len(sample.columns)
        table = np.frombuffer(bytes(sample.table or b""), dtype="<f8").reshape(width, -1)
        cells = table[1:].T.astype(object)
        cells[np.isnan(table[1:].T)] = None
        for position, name in enumerate(sample.columns, start=1):
            distinct = sample.texts.get(name)
            if distinct is not None:
                cells[:, position] = [
                    None if cell is None else distinct[int(cell)] for cell in cells[:, position]
                ]
        sample.rows = cells.tolist()
        sample.save(update_fields=["rows"])


class Migration(migrations.Migration):

    dependencies = [
        ("monitoring", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="reservoirsample",
            name="table",
            field=models.BinaryField(default=bytes),
        ),
        migrations.AddField(
            model_name="reservoirsample",
            name="texts",
            field=models.JSONField(default=dict),
        ),
        migrations.RunPython(rows_to_table, table_to_rows),
        migrations.RemoveField(
            model_name="reservoirsample",
            name="rows",
        ),
    ]
