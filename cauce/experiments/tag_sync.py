"""Keeps each experiment's MLflow run in step with Cauce, both ways, without losing a change.

Cauce → MLflow (the outbox):
- ``tag_sync_record_change`` runs inside the transaction of every change of an experiment's
  tags, name or description: it bumps ``TagSyncState.version`` and, on commit, sends
  ``tag_sync_push_task``. The change and its outbox entry commit or roll back together.
- ``tag_sync_push`` writes the experiment's *current* state (read from the database, not from
  the message) to its run: ``tag_0..tag_{n-1}`` (the tags sorted by name), ``all_tags`` (them
  comma-joined), ``tag_count``, the run name, ``mlflow.note.content`` (the description the
  MLflow UI shows) and ``mlflow.user``, in one ``log_batch`` per 100 tags, then deletes the
  keys written last time that should no longer exist. A replay, a duplicate or a late
  message writes the same latest state again.
- One writer per experiment at a time (a lease with an expiry, not a database lock held during
  the MLflow call); the version it wrote is recorded compare-and-set, so a newer change is
  never marked as synced by an older write. While MLflow is down the task retries with
  backoff; ``tag_sync_sweep`` (Celery beat) pushes whatever is still pending.

MLflow → Cauce (``tag_sync_pull``): tags edited on the run are adopted, see ``tags_merge``
and the README's conflict rule.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from cauce.experiments.models import MLExperiment, TagSyncState
from cauce.experiments.tags import (
    MAX_TAGS,
    TAG_KEY_VALUE,
    is_tag_mlflow_key,
    tag_is_valid,
    tag_mlflow_key,
    tags_normalize,
)
from cauce.experiments.tasks import tag_sync_push_task
from cauce.integrations.mlflow import MlflowError, MlflowNotFound, MlflowUnavailable

logger = logging.getLogger(__name__)

TAG_KEY = re.compile(r"^tag_(\d+)$")
ALL_TAGS = "all_tags"
TAG_COUNT = "tag_count"
NOTE_KEY = "mlflow.note.content"
USER_KEY = "mlflow.user"
RUN_NAME_KEY = "mlflow.runName"
# MLflow keeps at most this many characters of a run tag's value (longer ones are cut).
MLFLOW_MAX_TAG_VALUE = 8000
# Prefixes of keys that are never an experiment tag when read back from a run.
RESERVED_PREFIXES = ("mlflow.", "cauce.")
# On every run Cauce creates: which experiment (and so which attempts) it belongs to.
EXPERIMENT_ID_TAG = "cauce.experiment_id"
PROJECT_ID_TAG = "cauce.project_id"
# What MLflow's UI shows as the run's "Source": type JOB shows the name whole (LOCAL would
# show only what follows its last "/") with a job icon; no link without Databricks' job ids.
SOURCE_NAME_KEY = "mlflow.source.name"
SOURCE_TYPE_KEY = "mlflow.source.type"
SOURCE_TYPE = "JOB"
# The experiment's page in Cauce (``CAUCE_BASE_URL``), a link from MLflow back to Cauce.
URL_KEY = "cauce.url"


# --- the desired state -----------------------------------------------------------------------


@dataclass(frozen=True)
class DesiredTags:
    """The run tags Cauce wants, as MLflow will receive them."""

    tags: dict[str, str]
    # key -> {"received": n, "total": m} for the values MLflow gets shortened.
    clipped: dict[str, dict[str, int]] = field(default_factory=dict)


def _user_name(experiment: MLExperiment) -> str:
    user = experiment.queued_by or experiment.created_by
    return user.get_username() if user is not None else ""


def mlflow_tags_desired(
    experiment: MLExperiment, *, tag_names: Iterable[str] | None = None
) -> DesiredTags:
    """The run tags of an experiment: its tags as ``tag_i``, ``all_tags`` and ``tag_count``,
    one ``cauce.tag.<tag>`` = "true" per tag (``tags.tag_mlflow_key``), plus the run's name,
    description, user, source, Cauce's ids and the experiment's address in Cauce.

    ``tag_0``..``tag_{n-1}`` are the tags sorted by name (stable keys), ``all_tags`` is them
    comma-joined and ``tag_count`` their number, all strings, present even with no tags so
    that a later push overwrites them. A value over MLflow's 8000 characters is cut: the
    description to its first 8000, ``all_tags`` to the whole tags that fit; Cauce keeps both
    whole and the page says what MLflow received.
    """
    names = sorted(experiment.tags.names() if tag_names is None else tag_names)
    tags = {f"tag_{index}": name for index, name in enumerate(names)}
    clipped: dict[str, dict[str, int]] = {}
    joined = ",".join(names)
    if len(joined) > MLFLOW_MAX_TAG_VALUE:
        fitting: list[str] = []
        length = 0
        for name in names:
            extra = len(name) + (1 if fitting else 0)
            if length + extra > MLFLOW_MAX_TAG_VALUE:
                break
            fitting.append(name)
            length += extra
        joined = ",".join(fitting)
        clipped[ALL_TAGS] = {"received": len(fitting), "total": len(names)}
    tags[ALL_TAGS] = joined
    tags[TAG_COUNT] = str(len(names))
    tags[RUN_NAME_KEY] = experiment.name
    description = experiment.description or ""
    if description:
        if len(description) > MLFLOW_MAX_TAG_VALUE:
            clipped[NOTE_KEY] = {"received": MLFLOW_MAX_TAG_VALUE, "total": len(description)}
        tags[NOTE_KEY] = description[:MLFLOW_MAX_TAG_VALUE]
    user = _user_name(experiment)
    if user:
        tags[USER_KEY] = user
    tags[EXPERIMENT_ID_TAG] = str(experiment.pk)
    tags[PROJECT_ID_TAG] = str(experiment.project_id)
    tags[SOURCE_NAME_KEY] = f"Cauce · {experiment.name}"
    tags[SOURCE_TYPE_KEY] = SOURCE_TYPE
    tags[URL_KEY] = experiment_cauce_url(experiment)
    for name in names:
        tags[tag_mlflow_key(name)] = TAG_KEY_VALUE
    return DesiredTags(tags=tags, clipped=clipped)


def experiment_cauce_url(experiment: MLExperiment) -> str:
    """The experiment's page, as MLflow's users reach Cauce (``CAUCE_BASE_URL``)."""
    path = reverse("experiments:ml_experiment_detail", args=[experiment.pk])
    # The base URL includes any sub-path Cauce is served at; a web request's reverse() would
    # add it again.
    path = "/" + path.removeprefix(get_script_prefix())
    return settings.CAUCE_BASE_URL.rstrip("/") + path


def is_managed_key(key: str) -> bool:
    """Keys a push owns: what it writes, and stale ``tag_<i>`` / ``cauce.tag.*`` keys it
    removes."""
    return (
        bool(TAG_KEY.match(key)) or key in (ALL_TAGS, TAG_COUNT, NOTE_KEY) or is_tag_mlflow_key(key)
    )


# --- recording a change (web and worker, inside the change's transaction) ---------------------


def _state_for_update(experiment_id: Any) -> TagSyncState:
    state, _created = TagSyncState.objects.get_or_create(experiment_id=experiment_id)
    return TagSyncState.objects.select_for_update().get(pk=state.pk)


def tag_sync_record_change(*, experiment: MLExperiment) -> None:
    """Record that the experiment's run must be brought up to date (call inside the change's
    transaction); the push is sent once it commits."""
    with transaction.atomic():
        TagSyncState.objects.get_or_create(experiment_id=experiment.pk)
        TagSyncState.objects.filter(pk=experiment.pk).update(
            version=F("version") + 1, changed_at=timezone.now()
        )
        experiment_id = str(experiment.pk)
        transaction.on_commit(lambda: tag_sync_enqueue(experiment_id=experiment_id))


def experiment_tags_set(*, experiment: MLExperiment, tags: Iterable[str] | str) -> list[str]:
    """The one place where an experiment's tags change; the change reaches its MLflow run
    through the outbox (``tag_sync``), recorded in the same transaction."""
    normalized = tags_normalize(tags)
    with transaction.atomic():
        # One change at a time per experiment: two concurrent edits of the same tags (PATCH
        # twice) deadlocked on PostgreSQL between taggit's rows and the outbox (a 503).
        MLExperiment.objects.select_for_update().filter(pk=experiment.pk).exists()
        current = sorted(experiment.tags.names())
        # Exact spelling counts: "Iris" -> "iris" is a change MLflow must see.
        if current != sorted(normalized):
            experiment.tags.set(normalized, clear=False)
            tag_sync_record_change(experiment=experiment)
    return normalized


def tag_sync_enqueue(*, experiment_id: str, countdown: float | None = None) -> None:
    """Send the push; a broker that refuses it loses nothing (the sweep applies the change)."""
    try:
        tag_sync_push_task.apply_async(
            args=[experiment_id], countdown=countdown, queue=settings.TAG_SYNC_QUEUE or None
        )
    except Exception:
        logger.exception(
            "Could not send the tag sync of experiment %s; the sweep will", experiment_id
        )


# --- pushing (worker) ------------------------------------------------------------------------


class PushOutcome(StrEnum):
    SYNCED = "synced"  # written to the run (or nothing to write: no run yet)
    UP_TO_DATE = "up_to_date"
    BUSY = "busy"  # another worker holds the lease; try again later
    FAILED = "failed"  # MLflow refused it; recorded on the state, not retried


@dataclass(frozen=True)
class _Claim:
    token: str
    version: int
    run_id: str
    desired: DesiredTags
    delete_known: list[str]
    snapshot_trusted: bool
    had_stray_keys: bool


def _claim(experiment_id: Any, *, force: bool) -> _Claim | PushOutcome:
    """Take the lease on the experiment's run, then read what to write.

    Few statements and one short write: the push is timed against a bare ``set_tags``. The
    state is read again once the lease is held (another push may just have finished), and
    the experiment after the version, so the state written is at least that version.
    """
    now = timezone.now()
    current = (
        TagSyncState.objects.filter(pk=experiment_id)
        .values(
            "version", "synced_version", "synced_run_id", "stray_keys", "experiment__mlflow_run_id"
        )
        .first()
    )
    if current is None:
        if not MLExperiment.objects.filter(pk=experiment_id).exists():
            return PushOutcome.UP_TO_DATE
        TagSyncState.objects.get_or_create(experiment_id=experiment_id)
        force = True
    elif (
        not force
        and current["version"] <= current["synced_version"]
        and current["synced_run_id"] == current["experiment__mlflow_run_id"]
        and not current["stray_keys"]
    ):
        return PushOutcome.UP_TO_DATE
    token = uuid.uuid4().hex
    taken = (
        TagSyncState.objects.filter(pk=experiment_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .update(
            lease_token=token,
            lease_until=now + timedelta(seconds=settings.TAG_SYNC_LEASE_SECONDS),
            last_attempt_at=now,
        )
    )
    if not taken:
        return PushOutcome.BUSY
    # One read for the fresh state and the experiment (its name, users and run after the version).
    state = TagSyncState.objects.select_related(
        "experiment__created_by", "experiment__queued_by"
    ).get(pk=experiment_id)
    experiment = state.experiment
    run_id = experiment.mlflow_run_id
    desired = mlflow_tags_desired(experiment)
    trusted = bool(run_id) and state.synced_run_id == run_id
    known = set(state.snapshot) if trusted else set()
    known.update(state.stray_keys)
    delete = sorted(key for key in known if key not in desired.tags)
    return _Claim(token, state.version, run_id, desired, delete, trusted, bool(state.stray_keys))


def _release(experiment_id: Any, token: str, **fields: Any) -> bool:
    """Apply ``fields`` and drop the lease if this push still holds it."""
    updated = TagSyncState.objects.filter(pk=experiment_id, lease_token=token).update(
        lease_token="", lease_until=None, **fields
    )
    return bool(updated)


def tag_sync_push(*, experiment_id: Any, force: bool = False) -> PushOutcome:
    """Bring the experiment's run up to date with Cauce (see the module docstring).

    ``MlflowUnavailable`` is recorded on the state and raised for the caller to retry.
    """
    claim = _claim(experiment_id, force=force)
    if isinstance(claim, PushOutcome):
        return claim
    if not claim.run_id:
        # No run yet: the runner writes the current tags when it creates one.
        return _mark_synced(experiment_id, claim, written={}, deleted=[])
    from cauce.integrations.mlflow import tracking

    delete = list(claim.delete_known)
    try:
        if not claim.snapshot_trusted:
            # A run Cauce has no record of writing (started before this outbox existed, or
            # its start was interrupted): read it once to find the stale keys.
            current = tracking.run_tags(run_id=claim.run_id)
            delete = sorted(
                {*delete, *(key for key in current if is_managed_key(key))}
                - set(claim.desired.tags)
            )
        requests_made = tracking.run_tags_sync(
            run_id=claim.run_id, desired=claim.desired.tags, delete=delete
        )
    except MlflowUnavailable as exc:
        _release(
            experiment_id,
            claim.token,
            attempts=F("attempts") + 1,
            last_error=str(exc.message),
        )
        raise
    except (MlflowNotFound, MlflowError) as exc:
        message = (
            _("El run de MLflow %(run)s ya no existe.") % {"run": claim.run_id}
            if isinstance(exc, MlflowNotFound)
            else _("MLflow rechazó la sincronización: %(message)s") % {"message": exc.message}
        )
        logger.warning("Tag sync of experiment %s refused: %s", experiment_id, message)
        # Not retried (it would fail the same way); the next change tries again.
        _release(
            experiment_id,
            claim.token,
            synced_version=claim.version,
            attempts=F("attempts") + 1,
            last_error=message,
        )
        return PushOutcome.FAILED
    logger.info(
        "Synced %d tags of experiment %s to run %s in %d requests (%d keys removed)",
        len(claim.desired.tags),
        experiment_id,
        claim.run_id,
        requests_made,
        len(delete),
    )
    return _mark_synced(experiment_id, claim, written=claim.desired.tags, deleted=delete)


def _mark_synced(
    experiment_id: Any, claim: _Claim, *, written: dict[str, str], deleted: list[str]
) -> PushOutcome:
    """Compare-and-set: record what was written, unless the lease was lost or the experiment
    got a new run meanwhile (then push again, to that run)."""
    fields: dict[str, Any] = {
        "lease_token": "",
        "lease_until": None,
        "synced_version": claim.version,
        "synced_run_id": claim.run_id,
        "snapshot": written,
        "attempts": 0,
        "last_error": "",
    }
    if claim.run_id:
        fields["synced_at"] = timezone.now()
    if claim.had_stray_keys:
        with transaction.atomic():
            state = _state_for_update(experiment_id)
            fields["stray_keys"] = [key for key in state.stray_keys if key not in deleted]
            marked = _mark_if_current(experiment_id, claim, fields)
            newer = marked and state.version > claim.version
    else:
        # The common case is one short write: no newer change arrived meanwhile.
        marked = _mark_if_current(experiment_id, claim, fields, version=claim.version)
        newer = False
        if not marked:
            marked = _mark_if_current(experiment_id, claim, fields)
            newer = marked
    if not marked:
        if not _release(experiment_id, claim.token):
            return PushOutcome.BUSY  # the lease expired and another push took over
        tag_sync_enqueue(experiment_id=str(experiment_id))
    elif newer:
        tag_sync_enqueue(experiment_id=str(experiment_id))
    return PushOutcome.SYNCED


def _mark_if_current(
    experiment_id: Any, claim: _Claim, fields: dict[str, Any], version: int | None = None
) -> bool:
    conditions: dict[str, Any] = {"version": version} if version is not None else {}
    return bool(
        TagSyncState.objects.filter(
            pk=experiment_id,
            lease_token=claim.token,
            experiment__mlflow_run_id=claim.run_id,
            **conditions,
        ).update(**fields)
    )


def tag_sync_run_started(
    *, experiment_id: Any, run_id: str, version: int, written: dict[str, str]
) -> None:
    """The runner created ``run_id`` with the state of ``version``: record it, and push again
    if a change arrived since (read before the tags, so the run has at least that version)."""
    with transaction.atomic():
        state = _state_for_update(experiment_id)
        if state.synced_run_id != run_id or version > state.synced_version:
            state.synced_run_id = run_id
            state.synced_version = version
            state.snapshot = dict(written)
            state.stray_keys = []
            state.synced_at = timezone.now()
            state.attempts = 0
            state.last_error = ""
            state.save()
        if state.version > state.synced_version:
            experiment_id_text = str(experiment_id)
            transaction.on_commit(lambda: tag_sync_enqueue(experiment_id=experiment_id_text))


def tag_sync_version(*, experiment_id: Any) -> int:
    """The current desired version (0 when nothing was ever recorded)."""
    return (
        TagSyncState.objects.filter(pk=experiment_id).values_list("version", flat=True).first() or 0
    )


# --- the sweep -------------------------------------------------------------------------------


@dataclass
class SweepResult:
    pushed: int = 0
    failed: int = 0
    busy: int = 0
    unavailable: bool = False


def tag_sync_pending_ids(*, limit: int | None = None) -> list[str]:
    """Experiments with a change not yet written to their run, oldest change first."""
    now = timezone.now()
    queryset = (
        TagSyncState.objects.filter(version__gt=F("synced_version"))
        .exclude(lease_until__gt=now)
        .order_by("changed_at")
        .values_list("experiment_id", flat=True)
    )
    return [str(pk) for pk in (queryset[:limit] if limit else queryset)]


def tag_sync_sweep(*, limit: int | None = None) -> SweepResult:
    """Push every pending change now; stops at the first sign that MLflow is down."""
    result = SweepResult()
    for experiment_id in tag_sync_pending_ids(limit=limit):
        try:
            outcome = tag_sync_push(experiment_id=experiment_id)
        except MlflowUnavailable:
            result.unavailable = True
            break
        if outcome == PushOutcome.SYNCED:
            result.pushed += 1
        elif outcome == PushOutcome.FAILED:
            result.failed += 1
        elif outcome == PushOutcome.BUSY:
            result.busy += 1
    if result.pushed or result.failed or result.unavailable:
        logger.info("Tag sync sweep: %s", result)
    return result


# --- MLflow → Cauce --------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeResult:
    tags: list[str]  # the experiment's tags once MLflow's edits are adopted
    changed: bool
    # Keys on the run that the next push removes: adopted plain keys, tag_<i> past the end,
    # ``cauce.tag.*`` keys of tags the experiment does not have.
    stray_keys: list[str]
    refused: list[str]  # tags read from MLflow that break Cauce's rules (not adopted)
    # Keys a push writes are missing on the run (a run written before Cauce wrote them, or
    # removed in MLflow): the next push writes them again.
    incomplete: bool = False


def _tag_values(tags: dict[str, str]) -> list[str]:
    numbered = sorted(
        (
            (int(match.group(1)), value)
            for key, value in tags.items()
            if (match := TAG_KEY.match(key))
        ),
    )
    return [value for _index, value in numbered]


def _plain_keys(tags: dict[str, str]) -> list[str]:
    return sorted(
        key for key in tags if not is_managed_key(key) and not key.startswith(RESERVED_PREFIXES)
    )


def tags_merge(*, base: list[str], snapshot: dict[str, str], run: dict[str, str]) -> MergeResult:
    """Adopt the edits made on the run since Cauce last wrote ``snapshot`` there.

    ``base`` is the experiment's tags now (equal to what was written: nothing is pending).
    Each representation of the tags on the run counts as an edit only where it differs from
    what Cauce wrote: a ``tag_<i>`` added, removed or changed; ``all_tags`` rewritten; a plain
    key added (``key`` becomes the tag ``key``, or ``key:value`` when it has a value). Values
    are compared exactly, so "Iris" → "iris" is a rename; the result is normalised like any
    tag in Cauce (trimmed, spaces collapsed, case-insensitive duplicates dropped).

    The ``cauce.tag.*`` keys are derived from the tags, never a way to edit them: one added
    in MLflow for a tag the experiment does not have is stray (removed), one missing is
    written again, like the source and ``cauce.url`` (``incomplete``).
    """

    removed: set[str] = set()
    added: list[str] = []
    written_values = _tag_values(snapshot)
    run_values = _tag_values(run)
    if run_values != written_values:
        removed.update(set(written_values) - set(run_values))
        added.extend(value for value in run_values if value not in written_values)
    if ALL_TAGS in run and run[ALL_TAGS] != snapshot.get(ALL_TAGS):
        written_all = [value for value in snapshot.get(ALL_TAGS, "").split(",") if value]
        run_all = [value for value in run[ALL_TAGS].split(",") if value]
        removed.update(set(written_all) - set(run_all))
        added.extend(value for value in run_all if value not in written_all)
    plain = _plain_keys(run)
    for key in plain:
        value = run[key].strip()
        added.append(f"{key}:{value}" if value else key)
    candidates = [tag for tag in base if tag not in removed] + added
    accepted: list[str] = []
    refused: list[str] = []
    for tag in candidates:
        if tag.strip():
            (accepted if tag_is_valid(tag) else refused).append(tag)
    merged = tags_normalize(accepted, limit=None)

    if len(merged) > MAX_TAGS:
        refused.extend(merged[MAX_TAGS:])
        merged = merged[:MAX_TAGS]
    written_keys = set(snapshot)
    merged_keys = {tag_mlflow_key(tag) for tag in merged}
    stray = sorted(
        {*plain, *(key for key in run if TAG_KEY.match(key) and key not in written_keys)}
        - {f"tag_{index}" for index in range(len(merged))}
        | {key for key in run if is_tag_mlflow_key(key) and key not in merged_keys}
    )
    required = {*(tag_mlflow_key(tag) for tag in base), SOURCE_NAME_KEY, URL_KEY}
    return MergeResult(
        tags=merged,
        changed=sorted(merged) != sorted(base),
        stray_keys=stray,
        refused=refused,
        incomplete=not required <= set(run),
    )


@dataclass
class PullChange:
    experiment_id: str
    name: str
    before: list[str]
    after: list[str]
    refused: list[str]


@dataclass
class PullResult:
    checked: int = 0
    adopted: list[PullChange] = field(default_factory=list)
    # A Cauce change was pending: Cauce wins, MLflow's edits are overwritten.
    overridden: int = 0
    missing_runs: int = 0


def _pull_candidates(experiment_ids: Iterable[Any] | None):
    queryset = (
        MLExperiment.objects.exclude(mlflow_run_id="")
        .exclude(mlflow_experiment_id="")
        .select_related("tag_sync")
        .order_by("created_at")
    )
    if experiment_ids is not None:
        queryset = queryset.filter(pk__in=list(experiment_ids))
    return queryset


def tag_sync_pull(
    *,
    experiment_ids: Iterable[Any] | None = None,
    dry_run: bool = False,
    batch_size: int = 100,
    progress: Any = None,
) -> PullResult:
    """Adopt the tags edited on the runs in MLflow (the README's conflict rule).

    Runs are read 100 at a time (``search_runs``). For each experiment whose run Cauce has
    written: with a Cauce change pending, Cauce wins and the keys MLflow added are removed by
    the push; otherwise MLflow's edits are merged in (``tags_merge``) through
    ``experiment_tags_set``, which records the change, so the run is rewritten as Cauce
    writes it (``tag_i``, ``all_tags``, ``tag_count``) and both sides converge.
    ``progress(done, total)`` is called after each batch.
    """
    from cauce.integrations.mlflow import tracking

    result = PullResult()
    candidates = list(_pull_candidates(experiment_ids))
    total = len(candidates)
    for start in range(0, total, batch_size):
        batch = candidates[start : start + batch_size]
        runs = tracking.runs_tags(
            experiment_ids=sorted({e.mlflow_experiment_id for e in batch}),
            run_ids=[e.mlflow_run_id for e in batch],
        )
        for experiment in batch:
            result.checked += 1
            run = runs.get(experiment.mlflow_run_id)
            state = getattr(experiment, "tag_sync", None)
            if run is None:
                result.missing_runs += 1
                continue
            if state is None or state.synced_run_id != experiment.mlflow_run_id:
                continue  # Cauce has not written this run yet: its push comes first.
            _pull_one(experiment, state, run, result, dry_run, experiment_tags_set)
        if progress is not None:
            progress(min(start + batch_size, total), total)
    return result


def _pull_one(experiment, state, run, result: PullResult, dry_run: bool, tags_set) -> None:
    base = sorted(experiment.tags.names())
    merge = tags_merge(base=base, snapshot=state.snapshot, run=run)
    if not merge.changed and not merge.stray_keys and not merge.incomplete:
        return
    if state.is_pending:
        # Cauce changed after the last sync: its state wins; what MLflow added goes (and the
        # pending push writes whatever is missing).
        if not (merge.changed or merge.stray_keys):
            return
        result.overridden += 1
        if not dry_run and merge.stray_keys:
            TagSyncState.objects.filter(pk=state.pk).update(
                stray_keys=sorted({*state.stray_keys, *merge.stray_keys})
            )
        return
    change = PullChange(
        str(experiment.pk), experiment.name, base, sorted(merge.tags), merge.refused
    )
    if dry_run:
        if merge.changed:
            result.adopted.append(change)
        return
    with transaction.atomic():
        locked = _state_for_update(experiment.pk)
        if locked.version != state.version or locked.is_pending:
            # A Cauce change arrived while MLflow was read: it wins.
            result.overridden += 1
            return
        locked.stray_keys = sorted({*locked.stray_keys, *merge.stray_keys})
        locked.save(update_fields=["stray_keys"])
        if merge.changed:
            tags_set(experiment=experiment, tags=merge.tags)
            result.adopted.append(change)
            logger.info("Adopted MLflow's tags on experiment %s: %s", experiment.pk, change)
        else:
            # Only keys to clean up (e.g. a plain key that was already a tag) or to write
            # again: push the experiment's state.
            tag_sync_record_change(experiment=experiment)
