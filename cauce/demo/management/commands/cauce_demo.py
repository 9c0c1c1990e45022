"""Demo data for a fresh install: ``manage.py cauce_demo [--wait] [--timeout SECONDS]``.

Creates (once; running it again creates nothing new) the user ``demo`` (staff and superuser,
password ``demo`` or ``$CAUCE_DEMO_PASSWORD``), the project "Demo" owned by that user, the
"Iris" dataset and the experiment "Iris RandomForest", and sends that experiment to the Celery
worker. With ``--wait`` it polls until the experiment is FINISHED or ERROR. A FINISHED demo
experiment's model is registered ("Demo-Iris_RandomForest") with the alias ``champion``, and
sent a few hundred demo predictions (some with a shifted input) for its monitoring tab.
It also starts the sweep "Iris: búsqueda de árbol de decisión" (12 TPE trials over a decision
tree's depth, leaf size and criterion, 3-fold cross-validation), so a newcomer sees one; with
``--wait`` it waits for that too.
"""

import io
import os
import time

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError

from cauce.core.exceptions import ApplicationError
from cauce.datasets.models import Dataset
from cauce.datasets.services import dataset_create
from cauce.experiments.models import MLExperiment
from cauce.experiments.services import experiment_create, experiment_enqueue
from cauce.projects.models import Project, Role
from cauce.projects.services import project_create
from cauce.registry.services import alias_set, model_version_register
from cauce.sweeps.models import Sweep
from cauce.sweeps.services import sweep_create

DEMO_USERNAME = "demo"
DEMO_PROJECT = "Demo"
DEMO_DATASET = "Iris"
DEMO_EXPERIMENT = "Iris RandomForest"
DEMO_ALIAS = "champion"
DEMO_SWEEP = "Iris: búsqueda de árbol de decisión"
DEMO_SWEEP_TRIALS = 12


def iris_csv() -> bytes:
    """Fisher's iris, as shipped with scikit-learn, with the species by name."""
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    frame = iris.data.rename(
        columns={
            "sepal length (cm)": "sepal_length",
            "sepal width (cm)": "sepal_width",
            "petal length (cm)": "petal_length",
            "petal width (cm)": "petal_width",
        }
    )
    frame["species"] = [iris.target_names[code] for code in iris.target]
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


class Command(BaseCommand):
    help = "Create the demo user, project, Iris dataset and experiment (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Wait until the demo experiment is FINISHED or ERROR (needs a running worker).",
        )
        parser.add_argument(
            "--timeout", type=float, default=300, help="Seconds to wait with --wait."
        )

    def handle(self, *args, wait: bool, timeout: float, **options):
        user = self._user()
        project = self._project(user)
        dataset = self._dataset(project, user)
        experiment = self._experiment(project, user, dataset)
        sweep = self._sweep(project, user, dataset)
        if wait:
            self._wait(experiment, timeout)
            self._wait_sweep(sweep, timeout)
        experiment.refresh_from_db()
        if experiment.status == MLExperiment.Status.FINISHED:
            self._register(experiment, user)

    def _user(self):
        users = get_user_model()
        user, created = users.objects.get_or_create(username=DEMO_USERNAME)
        # Set every time, so that the login `make run` prints is always the one that works.
        user.set_password(os.environ.get("CAUCE_DEMO_PASSWORD") or "demo")
        user.is_active = user.is_staff = user.is_superuser = True
        user.save()
        self.stdout.write(f"User {user.username!r}: {'created' if created else 'exists'}")
        return user

    def _project(self, user) -> Project:
        project = Project.objects.filter(
            name=DEMO_PROJECT, memberships__user=user, memberships__role=Role.OWNER
        ).first()
        created = project is None
        if created:
            project = project_create(
                name=DEMO_PROJECT,
                user=user,
                description="Proyecto de demostración: el conjunto Iris y un RandomForest.",
            )
        self.stdout.write(f"Project {project.name!r}: {'created' if created else 'exists'}")
        return project

    def _dataset(self, project: Project, user) -> Dataset:
        dataset = project.datasets.filter(name=DEMO_DATASET).first()
        created = dataset is None
        if created:
            dataset = dataset_create(
                project=project,
                user=user,
                name=DEMO_DATASET,
                file=SimpleUploadedFile("iris.csv", iris_csv(), content_type="text/csv"),
                description="Iris de Fisher (scikit-learn): 150 flores, 4 medidas y la especie.",
            )
        self.stdout.write(
            f"Dataset {dataset.name!r}: {'created' if created else 'exists'} "
            f"({dataset.row_count} rows, {dataset.column_count} columns)"
        )
        return dataset

    def _experiment(self, project: Project, user, dataset: Dataset) -> MLExperiment:
        experiment = project.experiments.filter(name=DEMO_EXPERIMENT).first()
        created = experiment is None
        if created:
            experiment = experiment_create(
                project=project,
                user=user,
                name=DEMO_EXPERIMENT,
                dataset=dataset,
                target_column="species",
                algorithm="RandomForestClassifier",
                tags=["demo", "iris"],
                description="Clasificación de la especie de iris con un bosque aleatorio.",
            )
        self.stdout.write(f"Experiment {experiment.name!r}: {'created' if created else 'exists'}")
        # A new experiment, or one whose run failed last time, goes to the worker; one that is
        # queued, running or finished is left alone.
        if experiment.status in (MLExperiment.Status.DRAFT, MLExperiment.Status.ERROR):
            try:
                experiment_enqueue(experiment=experiment, user=user)
            except ApplicationError as error:
                raise CommandError(f"Could not enqueue {experiment.name!r}: {error}") from error
            experiment.refresh_from_db()
            self.stdout.write(f"Experiment {experiment.name!r}: sent to the worker")
        self.stdout.write(f"Experiment {experiment.name!r}: {experiment.status}")
        return experiment

    def _sweep(self, project: Project, user, dataset: Dataset) -> Sweep:
        sweep = project.sweeps.filter(name=DEMO_SWEEP).first()
        created = sweep is None
        if created:
            try:
                sweep = sweep_create(
                    project=project,
                    user=user,
                    name=DEMO_SWEEP,
                    dataset=dataset,
                    target_column="species",
                    algorithm="DecisionTreeClassifier",
                    search_space={
                        "max_depth": {"type": "int", "low": 1, "high": 8},
                        "min_samples_leaf": {"type": "int", "low": 1, "high": 20, "log": True},
                        "criterion": {"type": "categorical", "choices": ["gini", "entropy"]},
                    },
                    n_trials=DEMO_SWEEP_TRIALS,
                    sampler=Sweep.Sampler.TPE,
                    cv_folds=3,
                    seed=42,
                    tags=["demo", "iris"],
                )
            except ApplicationError as error:
                raise CommandError(f"Could not start the demo sweep: {error}") from error
        self.stdout.write(f"Sweep {sweep.name!r}: {'created' if created else 'exists'}")
        return sweep

    def _wait_sweep(self, sweep: Sweep, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while sweep.is_active:
            if time.monotonic() > deadline:
                raise CommandError(
                    f"Sweep {sweep.name!r} is still {sweep.status} after {timeout:.0f} s: "
                    "is a Celery worker running?"
                )
            time.sleep(0.5)
            sweep.refresh_from_db()
        if sweep.status != Sweep.Status.FINISHED:
            raise CommandError(f"Sweep {sweep.name!r} ended {sweep.status}: {sweep.error}")
        self.stdout.write(
            f"Sweep {sweep.name!r}: FINISHED ({sweep.metric} = {sweep.best_value:.3f}, "
            f"trial #{sweep.best_number})"
        )

    def _wait(self, experiment: MLExperiment, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        done = (MLExperiment.Status.FINISHED, MLExperiment.Status.ERROR)
        while experiment.status not in done:
            if time.monotonic() > deadline:
                raise CommandError(
                    f"Experiment {experiment.name!r} is still {experiment.status} after "
                    f"{timeout:.0f} s: is a Celery worker running?"
                )
            time.sleep(0.5)
            experiment.refresh_from_db()
        if experiment.status == MLExperiment.Status.ERROR:
            raise CommandError(f"Experiment {experiment.name!r} failed: {experiment.error}")
        metric = experiment.main_metric
        summary = f" ({experiment.main_metric_name} = {metric:.3f})" if metric is not None else ""
        self.stdout.write(f"Experiment {experiment.name!r}: FINISHED{summary}")

    def _register(self, experiment: MLExperiment, user) -> None:
        """Register the finished demo experiment's model (once) and point ``champion`` at it."""
        try:
            registration = model_version_register(experiment=experiment, user=user)
            alias_set(
                model=registration.model, alias=DEMO_ALIAS, version=registration.version.version
            )
        except ApplicationError as error:
            raise CommandError(f"Could not register the demo model: {error}") from error
        state = "registered" if registration.created else "already registered"
        self.stdout.write(
            f"Model {registration.model.name!r}: version {registration.version.version} "
            f"{state}, alias {DEMO_ALIAS!r}"
        )
        self._predict(registration.model, user)

    def _predict(self, model, user) -> None:
        """Demo predictions (once), some with a shifted input: the monitoring tab's data."""
        import pandas as pd

        from cauce.monitoring.demo import demo_predictions

        try:
            sent = demo_predictions(
                model=model, user=user, alias=DEMO_ALIAS, iris=pd.read_csv(io.BytesIO(iris_csv()))
            )
        except Exception as error:  # the demo's traffic is a nicety: never a failed start
            self.stderr.write(f"Demo predictions not sent ({type(error).__name__}: {error})")
            return
        if sent:
            self.stdout.write(f"Model {model.name!r}: {sent} demo predictions sent and monitored")
