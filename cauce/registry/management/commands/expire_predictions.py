"""``manage.py expire_predictions``: delete expired prediction jobs, files and rows.

Celery beat runs the same sweep every ``CAUCE_PREDICTION_RETENTION_SWEEP_SECONDS``; this is
for an operator (a deployment without beat, or to see first what would go with ``--dry-run``).
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cauce.registry.predict.retention import prediction_jobs_expire


class Command(BaseCommand):
    help = (
        "Delete prediction jobs (result and kept input files, then rows) older than "
        "CAUCE_PREDICTION_RETENTION_DAYS, at most --limit of them."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--limit",
            type=int,
            default=settings.PREDICTION_RETENTION_BATCH,
            help="Most jobs and folders deleted in this run (default: "
            "CAUCE_PREDICTION_RETENTION_BATCH).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count what would be deleted."
        )

    def handle(self, *args, limit: int, dry_run: bool, **options) -> None:
        if limit < 1:
            raise CommandError("--limit must be at least 1.")
        days = settings.PREDICTION_RETENTION_DAYS
        if not days:
            self.stdout.write("CAUCE_PREDICTION_RETENTION_DAYS is 0: predictions are kept.")
            return
        result = prediction_jobs_expire(limit=limit, dry_run=dry_run)
        verb = "would be deleted" if dry_run else "deleted"
        self.stdout.write(
            f"Predictions older than {days} day(s): {result.jobs} job(s) {verb}, "
            f"{result.folders} folder(s) of files {verb} "
            f"({'orphans' if dry_run else 'with them and orphans'}), "
            f"{result.remaining} expired job(s) left for the next run."
        )
