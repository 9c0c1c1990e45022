"""Recording predictions as they happen, without ever failing or slowing one.

``prediction_recorded`` wraps a prediction (the API, the page, a worker's job): it times it,
reads its outcome from the exception it raises, if any, and queues one ``Observed`` in this
process's memory: a ``put`` on a bounded queue, nothing else in the request. A daemon thread
(started on the first prediction of each process, after any fork) writes the queue's records
every ``MONITOR_FLUSH_SECONDS`` (one insert), and what it reduced of their rows every
``MONITOR_SAMPLE_FLUSH_SECONDS`` (``services.observations_write``); a process that exits
writes what is left. A write that fails (the database is down...) is logged and its
observations dropped: monitoring loses them, the predictions were already answered. A full
queue (the database far behind) drops new observations the same way.

Input rows are reduced by the thread, whole columns at a time (``Reduced``): per feature,
the counts in the reference profile's bins, and the rows that may join the version's
uniform sample of the day (at most ``MONITOR_SAMPLE_ROWS``, by random key: ``sample``).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.utils import timezone

from cauce.core.exceptions import ApplicationError
from cauce.integrations.mlflow import MlflowUnavailable
from cauce.monitoring import profile as profiles
from cauce.monitoring import sample as samples

logger = logging.getLogger(__name__)

OK, BAD_INPUT, MLFLOW_DOWN, ERROR = "ok", "bad_input", "mlflow_down", "error"


@dataclass
class Reduced:
    """What monitoring keeps of some input rows: bin counts per feature and a sample."""

    rows: int = 0
    counts: dict[str, list[int]] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    # The rows that may belong to the day's sample (``sample.RowSample``, bottom-k by key).
    sample: samples.RowSample | None = None

    def add(self, other: Reduced, *, limit: int, sample: bool = True) -> None:
        """Add ``other``'s counts and, with ``sample``, merge its sample into this one's (an
        hour's counts need no sample: only the day's is kept)."""
        self.add_all([other], limit=limit, sample=sample)

    def add_all(self, others: list[Reduced], *, limit: int, sample: bool = True) -> None:
        """``add`` each of ``others``, their samples merged in one go (one copy of the rows)."""
        for other in others:
            for name, counts in other.counts.items():
                mine = self.counts.get(name)
                self.counts[name] = (
                    list(counts)
                    if mine is None
                    else [a + b for a, b in zip(mine, counts, strict=True)]
                )
                self.missing[name] = self.missing.get(name, 0) + other.missing.get(name, 0)
            self.columns = self.columns or other.columns
            self.rows += other.rows
        parts = [other.sample for other in others if other.sample is not None]
        if sample and parts:
            if self.sample is None and len(parts) == 1:
                self.sample = parts[0]
            else:
                mine = [self.sample] if self.sample is not None else []
                self.sample = samples.merged(mine + parts, limit)

    def bound(self, limit: int) -> float:
        """The key under which a new row may still enter this sample (``RowSample.bound``)."""
        return self.sample.bound(limit) if self.sample is not None else 1.0


def frame_reduce(
    profile: dict[str, Any],
    frame: pd.DataFrame,
    *,
    at: datetime,
    limit: int,
    rng: np.random.Generator,
    below: float = 1.0,
) -> Reduced:
    """``frame``'s rows reduced against ``profile``: the counts in each feature's bins (the
    features the frame lacks count as missing), and the rows that may join the day's sample:
    those whose random key is under ``below`` (the bound of a full sample), at most
    ``limit`` (``sample.rows_drawn``). Whole columns at a time: no Python loop over rows."""
    reduced = Reduced(rows=len(frame))
    columns: list[np.ndarray] = []
    for feature in profile["features"]:
        name = feature["name"]
        if name in frame.columns:
            values = profiles.feature_values(feature, frame[name])
        elif feature["kind"] == profiles.NUMERIC:
            values = np.full(len(frame), np.nan)
        else:
            values = np.full(len(frame), None, dtype=object)
        reduced.counts[name], reduced.missing[name] = profiles.feature_bin_counts(feature, values)
        columns.append(values)
        reduced.columns.append(name)
    reduced.sample = samples.rows_drawn(
        columns,
        rows=len(frame),
        stamp=round(at.timestamp(), 3),
        limit=limit,
        rng=rng,
        below=below,
    )
    return reduced


@dataclass
class Observed:
    """One prediction as the request saw it; ``frame`` (API) is reduced by the thread,
    ``reduced`` (chunked files) was reduced chunk by chunk as they were predicted."""

    model_id: int
    version: int | None = None
    alias: str = ""
    experiment_id: Any = None  # whose reference profile bins the rows
    user_id: int | None = None
    source: str = "api"
    at: datetime | None = None
    rows: int = 0
    latency_ms: float = 0.0
    outcome: str = OK
    frame: pd.DataFrame | None = None
    reduced: Reduced | None = None


class Recording:
    """The handle ``prediction_recorded`` gives the prediction, to say what it predicted."""

    def __init__(self, observed: Observed) -> None:
        self.observed = observed
        self._rng: np.random.Generator | None = None

    def target(self, target: Any) -> None:
        """The version the prediction used (a ``PredictTarget``)."""
        self.observed.version = target.version.version
        self.observed.alias = target.alias or ""
        self.observed.experiment_id = target.experiment.pk

    def frame(self, frame: pd.DataFrame | None) -> None:
        """The rows predicted, in one frame (kept by reference, reduced off the request)."""
        if frame is not None:
            self.observed.frame = frame
            self.observed.rows = len(frame)

    def chunk(self, chunk: pd.DataFrame) -> None:
        """Rows of a file predicted chunk by chunk: reduced now, so that no chunk is kept."""
        observed = self.observed
        observed.rows += len(chunk)
        try:
            profile = profile_for(observed.experiment_id)
            if profile is None:
                return
            self._rng = self._rng or np.random.default_rng()
            limit = settings.MONITOR_SAMPLE_ROWS
            observed.reduced = observed.reduced or Reduced()
            part = frame_reduce(
                profile,
                chunk,
                at=timezone.now(),
                limit=limit,
                rng=self._rng,
                below=observed.reduced.bound(limit),
            )
            observed.reduced.add(part, limit=limit)
        except Exception:
            logger.exception("Monitoring: could not reduce a chunk of %s", observed.model_id)


def outcome_of(error: BaseException | None) -> str:
    if error is None:
        return OK
    if isinstance(error, MlflowUnavailable):
        return MLFLOW_DOWN
    if isinstance(error, ApplicationError) and 400 <= error.status_code < 500:
        return BAD_INPUT
    return ERROR


def _number(value: Any) -> int | None:
    try:
        return int(str(value).strip()) if value not in (None, "") else None
    except ValueError:
        return None


@contextlib.contextmanager
def prediction_recorded(
    *, model: Any, user: Any = None, source: str = "api", version: Any = None, alias: Any = ""
) -> Iterator[Recording]:
    """Time and record the prediction in the ``with`` block (see the module's docstring)."""
    observed = Observed(
        model_id=model.pk,
        version=_number(version),
        alias=alias if isinstance(alias, str) else "",
        user_id=user.pk if getattr(user, "is_authenticated", False) else None,
        source=source,
    )
    recording = Recording(observed)
    if not settings.MONITOR_ENABLED:
        yield recording
        return
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        yield recording
    except BaseException as raised:
        error = raised
        raise
    finally:
        observed.latency_ms = (time.perf_counter() - started) * 1000
        observed.outcome = outcome_of(error)
        observation_put(observed)


# --- the queue and its thread -----------------------------------------------------------------

_queue: queue.Queue[Observed] = queue.Queue()
_lock = threading.Lock()
_write_lock = threading.Lock()
_thread_pid: int | None = None
_profiles: dict[Any, dict | None] = {}
_PROFILES_KEPT = 64


def observation_put(observed: Observed) -> None:
    """Queue an observation; never raises, never blocks."""
    try:
        observed.at = observed.at or timezone.now()
        if _queue.qsize() >= settings.MONITOR_QUEUE_MAX:
            logger.error("Monitoring: queue full, a prediction not recorded: %s", observed.model_id)
            return
        _queue.put_nowait(observed)
        if settings.MONITOR_FLUSH_THREAD:
            _thread_ensure()
    except Exception:
        logger.exception("Monitoring: could not queue a prediction of %s", observed.model_id)


def _thread_ensure() -> None:
    global _thread_pid
    if _thread_pid == os.getpid():
        return
    with _lock:
        if _thread_pid == os.getpid():
            return
        thread = threading.Thread(target=_flush_loop, name="cauce-monitoring", daemon=True)
        thread.start()
        _thread_pid = os.getpid()


def _flush_loop() -> None:
    from django.db import close_old_connections

    samples_written = time.monotonic()
    while True:
        time.sleep(settings.MONITOR_FLUSH_SECONDS)
        close_old_connections()
        samples_now = time.monotonic() - samples_written >= settings.MONITOR_SAMPLE_FLUSH_SECONDS
        observations_flush(samples_now=samples_now)
        if samples_now:
            samples_written = time.monotonic()


def profile_for(experiment_id: Any) -> dict | None:
    """The reference profile of an experiment, remembered by this process (a profile never
    changes once written; a missing one is asked again next time)."""
    if experiment_id is None:
        return None
    if experiment_id in _profiles:
        return _profiles[experiment_id]
    from cauce.monitoring.models import ReferenceProfile

    profile = (
        ReferenceProfile.objects.filter(experiment_id=experiment_id)
        .values_list("profile", flat=True)
        .first()
    )
    if profile is not None:
        if len(_profiles) >= _PROFILES_KEPT:
            _profiles.pop(next(iter(_profiles)))
        _profiles[experiment_id] = profile
    return profile


def profiles_forget() -> None:
    _profiles.clear()


def observations_discard() -> None:
    """Empty the queue and the pending samples without writing them (tests: what one test
    queued is not the next's)."""
    from cauce.monitoring.services import samples_discard

    with contextlib.suppress(queue.Empty):
        while True:
            _queue.get_nowait()
    samples_discard()


def observations_flush(*, limit: int = 5000, samples_now: bool = True) -> int:
    """Write the queued observations (at most ``limit``), and the rows sampled so far when
    ``samples_now``; the number of observations written. Never raises: a failure is logged
    and those observations are dropped."""
    batch: list[Observed] = []
    with contextlib.suppress(queue.Empty):
        while len(batch) < limit:
            batch.append(_queue.get_nowait())
    from cauce.monitoring.services import observations_write, samples_pending

    if not batch and not (samples_now and samples_pending()):
        return 0

    try:
        with _write_lock:  # the thread, and a refresh in a request ("Recalcular")
            observations_write(batch, samples_now=samples_now)
    except Exception:
        logger.exception("Monitoring: %d predictions could not be recorded", len(batch))
        return 0
    return len(batch)


atexit.register(observations_flush)
