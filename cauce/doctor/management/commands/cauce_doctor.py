"""``manage.py cauce_doctor``: the drift between Cauce and MLflow, and its repair.

Without ``--fix`` it only reports. ``--fix`` repairs what it found (see ``cauce.doctor.checks``);
``--fix --dry-run`` says what it would do and changes nothing. Exit status 0 when nothing is
left to repair, 1 when drift remains (so a cron job or a CI step can alert on it).
"""

from __future__ import annotations

import sys
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from cauce.core.exceptions import ApplicationError
from cauce.doctor import checks
from cauce.integrations.mlflow import MlflowUnavailable
from cauce.integrations.mlflow import client as mlflow_client

BAR_WIDTH = 30


class ProgressBar:
    """``[#####.....] 5/10 label`` redrawn in place on stderr."""

    def __init__(self, stream, label: str):
        self.stream = stream
        self.label = label

    def __call__(self, done: int, total: int) -> None:
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} {self.label}", ending="")
        if done >= total:
            self.stream.write("")
        self.stream.flush()


class Command(BaseCommand):
    help = "Report (and with --fix repair) the drift between Cauce and MLflow."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--fix", action="store_true", help="Repair what is found.")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="With --fix: say what would be repaired, change nothing.",
        )
        parser.add_argument(
            "--stale-minutes",
            type=int,
            default=30,
            help="A tag sync pending for longer than this is reported (default 30).",
        )
        parser.add_argument(
            "--mlflow-experiment",
            action="append",
            default=None,
            metavar="ID",
            help="Look for orphan runs only in this MLflow experiment (repeatable; "
            "default: every active experiment).",
        )

    def handle(self, *args, fix: bool, dry_run: bool, stale_minutes: int, **options) -> None:
        if stale_minutes < 1:
            raise CommandError(_("--stale-minutes debe ser al menos 1."))
        # An administrative command may wait like a worker, not fail fast like a page.
        mlflow_client.use_worker_profile()
        steps = [
            (
                _("Experimentos cuyo run ya no existe en MLflow"),
                _("experimentos"),
                lambda progress: checks.experiments_with_missing_run(progress=progress),
            ),
            (
                _("Runs con cauce.experiment_id cuyo experimento ya no existe"),
                _("búsquedas"),
                lambda progress: checks.runs_without_experiment(
                    mlflow_experiment_ids=options["mlflow_experiment"], progress=progress
                ),
            ),
            (
                _("Versiones del registro cuyo experimento ya no existe"),
                _("modelos"),
                lambda progress: checks.versions_without_experiment(progress=progress),
            ),
            (
                _("Sincronizaciones de etiquetas pendientes desde hace más de %(minutes)s min")
                % {"minutes": stale_minutes},
                _("sincronizaciones"),
                lambda progress: checks.tag_syncs_stale(
                    stale_after=timedelta(minutes=stale_minutes), progress=progress
                ),
            ),
        ]
        findings: list[checks.Finding] = []
        try:
            for title, unit, check in steps:
                found = check(ProgressBar(self.stderr, unit))
                self._report(title, found)
                findings.extend(found)
            left = self._repair(findings, dry_run=dry_run) if fix else findings
        except MlflowUnavailable as exc:
            raise CommandError(
                _("MLflow no está disponible (%(uri)s): no se ha comprobado ni cambiado nada más.")
                % {"uri": mlflow_client.tracking_uri()}
            ) from exc
        self.stdout.write("")
        if not findings:
            self.stdout.write(self.style.SUCCESS(_("Sin diferencias entre Cauce y MLflow.")))
            return
        if fix and not dry_run:
            self.stdout.write(
                _("%(fixed)s de %(found)s diferencias reparadas.")
                % {"fixed": len(findings) - len(left), "found": len(findings)}
            )
        elif fix:
            self.stdout.write(_("Simulación (--dry-run): no se ha cambiado nada."))
        else:
            self.stdout.write(
                _("%(found)s diferencias. Ejecute con --fix para repararlas.")
                % {"found": len(findings)}
            )
        if left:
            sys.exit(1)

    def _report(self, title: str, findings: list[checks.Finding]) -> None:
        self.stdout.write(f"\n{title}: {len(findings)}")
        for finding in findings:
            self.stdout.write(f"  - {finding.subject}: {finding.detail}")

    def _repair(self, findings: list[checks.Finding], *, dry_run: bool) -> list[checks.Finding]:
        """Applies each repair (or, with --dry-run, says what it would do); returns the
        findings still unrepaired."""
        if not findings:
            return []
        self.stdout.write("\n" + _("Reparaciones:"))
        progress = ProgressBar(self.stderr, _("reparaciones"))
        left = []
        for done, finding in enumerate(findings):
            progress(done, len(findings))
            if finding.repair is None:
                outcome = _("no se repara: %(why)s") % {"why": finding.not_repaired}
                left.append(finding)
            elif dry_run:
                outcome = _("se repararía")
                left.append(finding)
            else:
                try:
                    outcome = finding.repair()
                except MlflowUnavailable:
                    raise  # stop: the rest would fail the same way
                except ApplicationError as error:
                    outcome = _("no reparado: %(error)s") % {"error": error.message}
                    left.append(finding)
            self.stdout.write(f"  - {finding.subject}: {outcome}")
        progress(len(findings), len(findings))
        return left
