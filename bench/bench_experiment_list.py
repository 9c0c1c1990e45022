"""A project's experiment list with 10,000 experiments and 20,000 tag links.

Prints, for the page filtered by two tags ("all of"), the SQL queries of one page at page sizes
10, 50 and 200 (the target is the same number for each: no query per row), and the time of a
filtered page of 50 beside an unfiltered page of 50 measured in the same run (target: filtered
÷ unfiltered ≤ 2.0). Pages are rendered whole through Django's test client (login, filters,
tag chips with counts, the table, pagination), as a browser would get them.

The data are bulk-created in a temporary database: SQLite in a temporary data dir by default,
or a new PostgreSQL database created (and dropped) beside the one DATABASE_URL names.
``--explain`` prints PostgreSQL's plans of the page and chip queries.

    .venv/bin/python bench/bench_experiment_list.py [--repetitions N] [--explain]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/...
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

EXPERIMENTS = 10_000
FIRST_TAGS = 5  # experiment i carries t<i % 5> and u<i % 7>: 2 links each, 20,000 in all
SECOND_TAGS = 7
FILTER = "t1,u3"  # both: i % 35 == 31 → 285 or 286 experiments, more than a page of 200
PAGE_SIZES = (10, 50, 200)
TARGET_RATIO = 2.0


def postgres_database() -> tuple[str, str] | None:
    """(admin URL, new database name) when DATABASE_URL is PostgreSQL."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return None
    return url, f"cauce_bench_list_{uuid.uuid4().hex[:8]}"


def _psql(url: str, statement: str) -> None:
    import psycopg

    base, _, _name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        connection.execute(statement)


def populate() -> tuple[object, object]:
    from django.contrib.auth import get_user_model
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone
    from taggit.models import Tag

    from cauce.datasets.models import Dataset
    from cauce.experiments.models import MLExperiment, TaggedExperiment
    from cauce.projects.models import Membership, Project, Role

    user = get_user_model().objects.create_user("bench", password=uuid.uuid4().hex)
    project = Project.objects.create(name="Bench", created_by=user)
    Membership.objects.create(project=project, user=user, role=Role.EDITOR)
    dataset = Dataset.objects.create(
        project=project,
        name="Iris",
        file="datasets/bench/iris.csv",
        original_filename="iris.csv",
        file_format="csv",
        size_bytes=1,
        row_count=150,
        column_count=5,
        schema=[{"name": "species", "kind": "categorical", "unique": 3, "missing": 0}],
    )
    now = timezone.now()
    algorithms = ("LogisticRegression", "RandomForestClassifier", "SVC")
    experiments = [
        MLExperiment(
            project=project,
            dataset=dataset,
            name=f"Experimento {index:05d}",
            description="Ajuste de hiperparámetros" if index % 3 else "",
            target_column="species",
            feature_columns=["a", "b"],
            task_type="classification",
            algorithm=algorithms[index % 3],
            status=MLExperiment.Status.FINISHED if index % 4 else MLExperiment.Status.DRAFT,
            metrics={"f1_macro": 0.9} if index % 4 else {},
            created_by=user,
            created_at=now - timedelta(seconds=index),
        )
        for index in range(EXPERIMENTS)
    ]
    MLExperiment.objects.bulk_create(experiments, batch_size=2000)
    tags = {
        name: Tag.objects.create(name=name, slug=name)
        for name in [f"t{i}" for i in range(FIRST_TAGS)] + [f"u{i}" for i in range(SECOND_TAGS)]
    }
    content_type = ContentType.objects.get_for_model(MLExperiment)
    links = []
    for index, experiment in enumerate(experiments):
        for name in (f"t{index % FIRST_TAGS}", f"u{index % SECOND_TAGS}"):
            links.append(
                TaggedExperiment(content_type=content_type, object_id=experiment.pk, tag=tags[name])
            )
    TaggedExperiment.objects.bulk_create(links, batch_size=5000)
    return user, project


def measure(client, url: str, params: dict, repetitions: int) -> tuple[float, int, int]:
    """(median seconds, queries, rows) of GET url?params."""
    from django.db import connection

    queries: list[str] = []

    def record(execute, sql, params_, many, context):
        queries.append(sql)
        return execute(sql, params_, many, context)

    with connection.execute_wrapper(record):
        response = client.get(url, params)
    assert response.status_code == 200, response.status_code
    rows = response.content.decode().count('form="bulk-tags" data-select')
    times = []
    for _ in range(repetitions):
        started = time.perf_counter()
        client.get(url, params)
        times.append(time.perf_counter() - started)
    return statistics.median(times), len(queries), rows


def explain(project) -> None:
    from django.db import connection

    from cauce.experiments.selectors import (
        ExperimentFilters,
        experiment_list,
        experiment_tag_counts,
    )

    if connection.vendor != "postgresql":
        print("(--explain needs PostgreSQL)")
        return
    filters = ExperimentFilters(tags=tuple(FILTER.split(",")))
    experiments = experiment_list(project=project, filters=filters)
    print("\nEXPLAIN ANALYZE, page of 50 filtered by two tags:")
    print(experiments[:50].explain(analyze=True))
    print("\nEXPLAIN ANALYZE, the count of the filtered experiments:")
    print(experiments.order_by().values("pk").explain(analyze=True))
    print("\nEXPLAIN ANALYZE, tag chip counts of the filtered experiments:")
    from cauce.experiments.models import TaggedExperiment

    chips = TaggedExperiment.objects.filter(object_id__in=experiments.order_by().values("pk"))
    print(chips.values("tag_id").explain(analyze=True))
    with connection.cursor():
        experiment_tag_counts(experiments=experiments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repetitions", type=int, default=15)
    parser.add_argument("--explain", action="store_true")
    arguments = parser.parse_args()

    # whitenoise warns that collectstatic has not run: pages here need no static file.
    warnings.filterwarnings("ignore", message="No directory at")
    root = Path(tempfile.mkdtemp(prefix="cauce-bench-list-"))
    postgres = postgres_database()
    os.environ.update(
        {
            "CAUCE_DATA_DIR": str(root),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "LOG_LEVEL": "WARNING",
        }
    )
    if postgres:
        _psql(postgres[0], f'CREATE DATABASE "{postgres[1]}"')
        os.environ["CAUCE_DATABASE_NAME"] = postgres[1]
    try:
        import django
        from django.core.management import call_command

        django.setup()
        from django.db import connection
        from django.test import Client
        from django.urls import reverse

        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        user, project = populate()
        print(
            f"database: {connection.vendor}; {EXPERIMENTS} experiments, "
            f"{2 * EXPERIMENTS} tag links, bulk-created in {time.perf_counter() - started:.1f} s"
        )
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        client = Client()
        client.force_login(user)
        url = reverse("experiments:ml_experiment_list", args=[project.pk])
        client.get(url)  # warm up: templates, translations, the session

        print(f"\nfiltered by two tags (tags={FILTER}, all of), queries per page:")
        counts = []
        for size in PAGE_SIZES:
            _seconds, queries, rows = measure(client, url, {"tags": FILTER, "per_page": size}, 1)
            counts.append(queries)
            print(f"  page size {size:>3}: {rows:>3} rows, {queries} SQL queries")
        same = "yes" if len(set(counts)) == 1 else "NO"
        print(f"  same number of queries for every page size: {same} (target: yes)")

        filtered, f_queries, f_rows = measure(client, url, {"tags": FILTER}, arguments.repetitions)
        unfiltered, u_queries, u_rows = measure(client, url, {}, arguments.repetitions)
        any_of, a_queries, a_rows = measure(
            client, url, {"tags": FILTER, "tags_mode": "any"}, arguments.repetitions
        )
        everywhere, e_queries, e_rows = measure(
            client,
            reverse("experiments:ml_experiment_all"),
            {"tags": FILTER},
            arguments.repetitions,
        )
        print(f"\npage of 50, median of {arguments.repetitions}:")
        for label, (seconds, queries, rows) in [
            ("unfiltered", (unfiltered, u_queries, u_rows)),
            ("filtered by two tags (all)", (filtered, f_queries, f_rows)),
            ("filtered by two tags (any)", (any_of, a_queries, a_rows)),
            ("Experimentos page, 2 tags", (everywhere, e_queries, e_rows)),
        ]:
            print(f"  {label + ':':<28}{seconds * 1000:7.1f} ms ({rows} rows, {queries} queries)")
        print(f"  filtered ÷ unfiltered = {filtered / unfiltered:.2f} (target <= {TARGET_RATIO})")
        if arguments.explain:
            explain(project)
    finally:
        if postgres:
            from django.db import connections

            connections.close_all()
            _psql(postgres[0], f'DROP DATABASE IF EXISTS "{postgres[1]}"')
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
