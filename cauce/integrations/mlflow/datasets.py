"""A run's dataset inputs: the data it trained and was evaluated on, as MLflow records it.

Each split is one ``mlflow.data.from_pandas`` dataset, logged with ``log_inputs`` in one
request, its context in the ``mlflow.data.context`` input tag (``training``,
``evaluation``). MLflow's run page lists them under "Datasets used", and
``search_runs(filter_string="dataset.digest = '<digest>'")`` finds the runs of a version.

- Digest: Cauce's own (the version's, ``cauce.datasets.digests``): MLflow computes none.
- Name: the dataset's name with the split's context. MLflow keeps one input per (name,
  digest) and run: with one name, the second split would be dropped.
- Schema: inferred by MLflow from the first rows (the dtypes decide it; inferring it from a
  million rows takes seconds); the profile (rows, elements) is the whole split's.
- Source: an HTTP link back to the version's page in Cauce.
- Concurrency: MLflow adds a dataset in two steps (look it up by experiment, name and digest,
  then insert it; ``SqlAlchemyStore._log_inputs_impl``). Two runs of one MLflow experiment
  logging the same dataset at once both miss it, and the later insert breaks the unique key:
  MLflow refuses that run's inputs (400, "UNIQUE constraint failed" / "duplicate key"). Logging
  them again finds the dataset and only links the run, so such a refusal is retried.
"""

from __future__ import annotations

import json
import logging
import re
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cauce.integrations.mlflow.client import get_client, translate_errors
from cauce.integrations.mlflow.errors import MlflowError, MlflowUnavailable

if TYPE_CHECKING:
    import pandas as pd

CONTEXT_TRAINING = "training"
CONTEXT_EVALUATION = "evaluation"
SCHEMA_SAMPLE_ROWS = 1000
# Attempts at logging a run's inputs when another run inserted the same dataset meanwhile.
LOG_INPUTS_ATTEMPTS = 4
LOG_INPUTS_RETRY_DELAY = 0.05

logger = logging.getLogger(__name__)
# MLflow's refusal when its insert of a dataset lost the race (SQLite, PostgreSQL, MySQL).
_LOST_INSERT_RACE = re.compile(
    r"unique constraint failed|duplicate key value|duplicate entry|uniqueviolation", re.I
)


@dataclass(frozen=True)
class DatasetSplit:
    features: pd.DataFrame
    target: pd.Series


def _entity(*, name: str, digest: str, source_url: str, target: str, split: DatasetSplit):
    import pandas as pd
    from mlflow.data import from_pandas
    from mlflow.data.http_dataset_source import HTTPDatasetSource
    from mlflow.entities import Dataset

    sample = split.features.head(SCHEMA_SAMPLE_ROWS)
    sample = pd.concat(
        [sample, split.target.head(SCHEMA_SAMPLE_ROWS).rename(target)], axis=1, copy=False
    )
    with warnings.catch_warnings():
        # MLflow's hint about integer columns and missing values is for model signatures.
        warnings.simplefilter("ignore", UserWarning)
        dataset = from_pandas(
            sample, source=HTTPDatasetSource(source_url), targets=target, name=name, digest=digest
        )
        entity = dataset._to_mlflow_entity()
    rows = len(split.features)
    return Dataset(
        name=entity.name,
        digest=entity.digest,
        source_type=entity.source_type,
        source=entity.source,
        schema=entity.schema,
        profile=json.dumps({"num_rows": rows, "num_elements": rows * sample.shape[1]}),
    )


def run_log_dataset_inputs(
    *,
    run_id: str,
    name: str,
    digest: str,
    source_url: str,
    target: str,
    splits: Mapping[str, DatasetSplit],
) -> None:
    """Log each split (by context) as a dataset input of the run, in one request."""
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    inputs = [
        DatasetInput(
            dataset=_entity(
                name=f"{name} · {context}",
                digest=digest,
                source_url=source_url,
                target=target,
                split=split,
            ),
            tags=[InputTag(key=MLFLOW_DATASET_CONTEXT, value=context)],
        )
        for context, split in splits.items()
    ]
    for attempt in range(1, LOG_INPUTS_ATTEMPTS + 1):
        try:
            with translate_errors(what="log_inputs"):
                get_client().log_inputs(run_id, datasets=inputs)
            return
        except MlflowError as exc:
            if (
                isinstance(exc, MlflowUnavailable)
                or attempt == LOG_INPUTS_ATTEMPTS
                or not lost_insert_race(exc)
            ):
                raise
            logger.info(
                "Run %s: another run inserted its dataset at the same time; logging again", run_id
            )
            time.sleep(LOG_INPUTS_RETRY_DELAY * attempt)


def lost_insert_race(error: MlflowError) -> bool:
    """True when MLflow refused an insert because another request inserted the same row
    first (its message, or its cause's, names a unique key)."""
    messages = [str(getattr(error, "message", "")), str(error.__cause__ or "")]
    return any(_LOST_INSERT_RACE.search(message) for message in messages)
