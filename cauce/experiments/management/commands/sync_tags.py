"""``manage.py sync_tags``: push pending tag changes to MLflow and adopt MLflow's edits.

The periodic tasks do the same; this is for an operator (after an outage, or to see what
MLflow-side edits would be adopted with ``--dry-run``).
"""

import sys

from django.core.management.base import BaseCommand, CommandError

from cauce.experiments.models import MLExperiment
from cauce.experiments.tag_sync import tag_sync_pull, tag_sync_sweep
from cauce.integrations.mlflow import MlflowUnavailable
from cauce.integrations.mlflow import client as mlflow_client

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Synchronize experiment tags with MLflow, both ways (see the README's conflict rule)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Only say what would change; write nothing to Cauce or MLflow.",
        )
        parser.add_argument(
            "--experiment",
            action="append",
            default=None,
            metavar="UUID",
            help="Only this experiment (repeatable).",
        )

    def _progress(self, done: int, total: int) -> None:
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        sys.stderr.write(f"\r[{'#' * filled}{' ' * (BAR_WIDTH - filled)}] {done}/{total} runs")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def handle(self, *args, dry_run: bool, experiment: list[str] | None, **options) -> None:
        mlflow_client.use_worker_profile()
        ids = experiment
        if ids is not None:
            found = {
                str(pk)
                for pk in MLExperiment.objects.filter(pk__in=ids).values_list("pk", flat=True)
            }
            missing = sorted(set(ids) - found)
            if missing:
                raise CommandError(f"No such experiment: {', '.join(missing)}")
        try:
            if not dry_run:
                sweep = tag_sync_sweep()
                self.stdout.write(
                    f"Cauce → MLflow: {sweep.pushed} pending change(s) pushed, "
                    f"{sweep.failed} refused, {sweep.busy} busy"
                )
            result = tag_sync_pull(experiment_ids=ids, dry_run=dry_run, progress=self._progress)
        except MlflowUnavailable as exc:
            raise CommandError(f"MLflow is unavailable: {exc.message}") from None
        verb = "would adopt" if dry_run else "adopted"
        self.stdout.write(
            f"MLflow → Cauce: {result.checked} run(s) checked, {len(result.adopted)} {verb}, "
            f"{result.overridden} with a pending Cauce change (Cauce wins), "
            f"{result.missing_runs} run(s) missing in MLflow"
        )
        for change in result.adopted:
            self.stdout.write(
                f"  {change.name} ({change.experiment_id}): "
                f"{', '.join(change.before) or '—'} → {', '.join(change.after) or '—'}"
            )
            if change.refused:
                self.stdout.write(f"    not adopted (breaks the tag rules): {change.refused}")
