"""Retention of prediction jobs: an ended job is deleted, files and row, after its time.

A job ends FINISHED (its result CSV kept for download) or ERROR (its input kept, so that it
can be retried). ``PREDICTION_RETENTION_DAYS`` after it ended (``PredictionJob.expires_at``)
the periodic sweep deletes the row, then the job's files. A job still QUEUED or RUNNING
whose row has not changed for as long (its worker and its message long gone) goes too.

Files are deleted through the default storage (the data dir or a bucket), by name: a bucket
has no folders to remove, so a "folder" here is the job's prefix, gone with its last file.

Each delete repeats the expiry condition, so a job retried a moment before is never
deleted under its worker, and a retry cannot revive a job the sweep is deleting (the retry
refuses an expired job with the same condition). Folders without a row (their project or
model deleted, or a sweep that died between the row and the folder) are removed too once
they are as old. One run deletes at most ``PREDICTION_RETENTION_BATCH`` jobs and folders;
the rest waits for the next run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Q, QuerySet
from django.utils import timezone

from cauce.registry.models import (
    PREDICTION_INPUT_NAME,
    PREDICTION_RESULT_NAME,
    PREDICTIONS_DIR,
    PredictionJob,
)

logger = logging.getLogger(__name__)

# Folders checked against the database at a time by the orphan sweep.
ORPHAN_CHECK_CHUNK = 500


@dataclass(frozen=True)
class ExpireResult:
    jobs: int  # rows deleted (or that would be, in a dry run)
    folders: int  # folders removed: the deleted jobs' and orphans' (dry run: orphans found)
    remaining: int  # expired jobs left for the next run


def _cutoff(now: datetime) -> datetime:
    return now - timedelta(days=settings.PREDICTION_RETENTION_DAYS)


def retention_cutoff(*, now: datetime | None = None) -> datetime | None:
    """Jobs that ended before this have expired; None when results are kept forever."""
    if not settings.PREDICTION_RETENTION_DAYS:
        return None
    return _cutoff(now or timezone.now())


def expired_jobs(*, now: datetime | None = None) -> QuerySet[PredictionJob]:
    """Jobs past their retention: ended before the cutoff, or silent active ones."""
    cutoff = _cutoff(now or timezone.now())
    ended = Q(finished_at__lt=cutoff) & ~Q(status__in=PredictionJob.ACTIVE_STATUSES)
    abandoned = Q(status__in=PredictionJob.ACTIVE_STATUSES, updated_at__lt=cutoff)
    return PredictionJob.objects.filter(ended | abandoned)


def _job_folder(project_id: int, job_id: uuid.UUID) -> str:
    return str(PREDICTIONS_DIR / str(project_id) / str(job_id))


def _remove_folder(folder: str, names: list[str]) -> bool:
    """Delete the folder's files, by name; whether any was there and all are gone."""
    names = [name for name in names if name]
    try:
        present = [name for name in names if default_storage.exists(name)]
        for name in present:
            default_storage.delete(name)
    except Exception:
        # Left for the orphan sweep of a later run; the row is gone already.
        logger.exception("Prediction folder %s could not be removed", folder)
        return False
    return bool(present)


def _job_files(folder: str, *recorded: str) -> list[str]:
    """The names a job's folder may hold: the ones its row recorded, and the services'
    fixed names (a job can stop between storing a file and recording it)."""
    fixed = (f"{folder}/{PREDICTION_INPUT_NAME}", f"{folder}/{PREDICTION_RESULT_NAME}")
    return sorted({*recorded, *fixed} - {""})


def prediction_jobs_expire(
    *, now: datetime | None = None, limit: int | None = None, dry_run: bool = False
) -> ExpireResult:
    """Delete up to ``limit`` expired jobs (row, then folder) and orphan folders."""
    if not settings.PREDICTION_RETENTION_DAYS:
        return ExpireResult(jobs=0, folders=0, remaining=0)
    now = now or timezone.now()
    limit = limit or settings.PREDICTION_RETENTION_BATCH
    expired = expired_jobs(now=now)
    batch = list(
        expired.order_by("finished_at", "updated_at").values_list(
            "pk", "registered_model__project_id", "input_file", "result_file"
        )[:limit]
    )
    jobs = folders = 0
    for job_id, project_id, input_name, result_name in batch:
        if dry_run:
            jobs += 1
            continue
        # The condition again: a job retried since the read above is not deleted.
        deleted, _by_model = expired.filter(pk=job_id).delete()
        if not deleted:
            continue
        jobs += 1
        folder = _job_folder(project_id, job_id)
        folders += _remove_folder(folder, _job_files(folder, input_name, result_name))
    folders += _remove_orphans(now=now, limit=max(limit - jobs, 0), dry_run=dry_run)
    remaining = expired.count() - (jobs if dry_run else 0)
    if jobs or folders:
        logger.info(
            "Prediction retention: %d job(s) and %d folder(s) deleted, %d expired left",
            jobs,
            folders,
            remaining,
        )
    return ExpireResult(jobs=jobs, folders=folders, remaining=remaining)


def _listdir(folder: str) -> tuple[list[str], list[str]]:
    try:
        return default_storage.listdir(folder)
    except FileNotFoundError:  # the data dir before its first prediction
        return [], []


def _old_folders(oldest: datetime) -> Iterator[tuple[uuid.UUID, str, list[str]]]:
    """(job id, folder, file names) of every job folder whose files all changed before
    ``oldest``."""
    projects, _files = _listdir(str(PREDICTIONS_DIR))
    for project in projects:
        project_folder = f"{PREDICTIONS_DIR}/{project}"
        for job in _listdir(project_folder)[0]:
            try:
                job_id = uuid.UUID(job)
            except ValueError:
                continue
            folder = f"{project_folder}/{job}"
            names = [f"{folder}/{name}" for name in _listdir(folder)[1]]
            if names and all(default_storage.get_modified_time(n) < oldest for n in names):
                yield job_id, folder, names


def _remove_orphans(*, now: datetime, limit: int, dry_run: bool) -> int:
    """Job folders older than the retention whose job row no longer exists."""
    found = 0
    chunk: dict[uuid.UUID, tuple[str, list[str]]] = {}

    def sweep(candidates: dict[uuid.UUID, tuple[str, list[str]]]) -> int:
        existing = set(
            PredictionJob.objects.filter(pk__in=list(candidates)).values_list("pk", flat=True)
        )
        count = 0
        for job_id, (folder, names) in candidates.items():
            if found + count >= limit:
                break
            if job_id in existing:
                continue
            if dry_run or _remove_folder(folder, names):
                count += 1
        return count

    for job_id, folder, names in _old_folders(_cutoff(now)):
        if found >= limit:
            break
        chunk[job_id] = (folder, names)
        if len(chunk) >= ORPHAN_CHECK_CHUNK:
            found += sweep(chunk)
            chunk = {}
    if chunk and found < limit:
        found += sweep(chunk)
    return found
