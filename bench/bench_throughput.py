"""Throughput with more Celery workers: 40 small experiments queued at once, 1 worker then 2.

Starts the production harness (``tests/production/harness.py``: PostgreSQL, Redis, the S3
object store, MLflow, gunicorn, beat; all private, on loopback), creates a user, a project and
a tiny dataset through the API, then measures as ``tests/production/test_throughput.py`` does
(first queued to last finished, warm workers) and prints both times and their ratio
(target: 2 workers <= 0.65 x 1 worker). It prints, never asserts. Everything it started is
stopped at the end.

    .venv/bin/python bench/bench_throughput.py [--experiments N] [--mlflow-servers N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from tests.production.harness import Harness  # noqa: E402
from tests.production.throughput import EXPERIMENTS, measure  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=EXPERIMENTS)
    parser.add_argument(
        "--mlflow-servers", type=int, default=2, help="MLflow servers behind nginx (compose: 2)"
    )
    args = parser.parse_args()
    harness = Harness(mlflow_servers=args.mlflow_servers)
    with harness:
        print(f"harness started in {harness.timings['start']:.1f} s")
        seed = harness.seed()
        result = measure(harness, seed, args.experiments)
    lost = [i for phase in result.phases for i, s in phase.statuses.items() if s != "FINISHED"]
    print(result.report())
    if lost:
        print(f"  {len(lost)} experiments did not finish: see {harness.root}/logs/")
    else:
        shutil.rmtree(harness.root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
