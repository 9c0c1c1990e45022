"""Workers on hosts with no shared disk: the web and each worker have data dirs of their own,
and every file Cauce keeps is in the object store's bucket (``CAUCE_STORAGE_BUCKET``).

Through the web's API and pages: a dataset is uploaded, trained on by a worker, its model
registered; a file above the async threshold is predicted by a worker and its result
downloaded; a failed file is retried with the input the bucket kept; expiry empties the
bucket's prediction folders. No file lands in any local media folder.
"""

import re
import time
import uuid
from pathlib import Path

import boto3
import requests

from tests.production.harness import AWS_KEYS, FILES_BUCKET

# Above the web's CAUCE_PREDICT_ASYNC_THRESHOLD_BYTES (1 MB by default): queued for a worker.
PREDICT_ROWS = 60_000
JOB_QUERY = "SELECT status || '|' || error FROM registry_predictionjob WHERE id = '%s'"


def _bucket_keys(harness, prefix: str) -> list[str]:
    s3 = boto3.client(
        "s3",
        endpoint_url=harness.s3_url,
        aws_access_key_id=AWS_KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_KEYS["AWS_SECRET_ACCESS_KEY"],
        region_name=AWS_KEYS["AWS_DEFAULT_REGION"],
    )
    listing = s3.list_objects_v2(Bucket=FILES_BUCKET, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


def _rows(count: int, bad_last: bool = False) -> bytes:
    lines = ["x0,x1,x2"]
    lines += [f"{i % 101 / 10:.4f},{i % 97 / 10:.4f},{i % 89 / 10:.4f}" for i in range(count)]
    if bad_last:
        lines.append("no,es,numero")
    return ("\n".join(lines) + "\n").encode()


def _login(harness, seed) -> requests.Session:
    session = requests.Session()
    session.get(harness.web_url + "/accounts/login/", timeout=30)
    response = session.post(
        harness.web_url + "/accounts/login/",
        data={
            "username": seed.username,
            "password": seed.password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text[-500:]
    return session


def _predict_file(harness, session, name: str, version: int, content: bytes) -> str:
    response = session.post(
        f"{harness.web_url}/models/{name}/predict/",
        data={"version": version, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        files={"file": ("filas.csv", content, "text/csv")},
        allow_redirects=False,
        timeout=60,
    )
    assert response.status_code == 302, response.text[-2000:]
    return re.search(r"/predictions/([0-9a-f-]{36})/", response.headers["Location"]).group(1)


def _job(harness, job_id: str) -> tuple[str, str]:
    query = JOB_QUERY % uuid.UUID(job_id)  # only a UUID goes into the query
    status, _bar, error = harness.psql(query, "cauce").strip().partition("|")
    return status, error


def _wait_job(harness, job_id: str, statuses: set[str], timeout: float = 120) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, error = _job(harness, job_id)
        if status in statuses:
            return status, error
        time.sleep(0.5)
    raise AssertionError(f"prediction {job_id} still {_job(harness, job_id)} after {timeout}s")


def _local_media_files(harness) -> list[Path]:
    folders = [harness.root / "data", *harness.root.glob("data-worker*")]
    return [path for folder in folders for path in (folder / "media").rglob("*") if path.is_file()]


def test_web_and_workers_share_no_disk_only_the_bucket(harness):
    harness.start_workers(2)
    seed = harness.seed()
    assert _bucket_keys(harness, f"datasets/{seed.project_id}/"), "the dataset is in the bucket"

    [experiment_id] = harness.queue_experiments(seed, 1)
    assert harness.wait_experiments(seed, [experiment_id], timeout=180) == {
        experiment_id: "FINISHED"
    }
    registered = harness.api(seed, "POST", f"/api/experiments/{experiment_id}/register-model/")
    assert registered.status_code == 201, registered.text
    name, version = registered.json()["name"], registered.json()["version"]
    session = _login(harness, seed)

    good = _rows(PREDICT_ROWS)
    assert len(good) > 1024 * 1024
    job_id = _predict_file(harness, session, name, version, good)
    assert _wait_job(harness, job_id, {"FINISHED", "ERROR"}) == ("FINISHED", "")
    download = session.get(
        f"{harness.web_url}/models/{name}/predictions/{job_id}/download/", timeout=60
    )
    assert download.status_code == 200
    lines = download.content.decode().splitlines()
    assert len(lines) == PREDICT_ROWS + 1 and lines[0].startswith("x0,x1,x2,")

    failed_id = _predict_file(harness, session, name, version, _rows(PREDICT_ROWS, bad_last=True))
    status, error = _wait_job(harness, failed_id, {"FINISHED", "ERROR"})
    assert status == "ERROR" and "numero" in error, error
    assert _bucket_keys(harness, "predictions/"), "the failed job's input is kept in the bucket"
    retried = session.post(
        f"{harness.web_url}/models/{name}/predictions/{failed_id}/retry/",
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
        allow_redirects=False,
        timeout=30,
    )
    assert retried.status_code == 302, retried.text[-2000:]
    # The retry cleared the error: a worker read the kept input from the bucket and failed
    # the same way again (not "the input is gone").
    assert _wait_job(harness, failed_id, {"ERROR"}) == (status, error)

    harness.psql(
        "UPDATE registry_predictionjob SET finished_at = now() - interval '30 days'", "cauce"
    )
    harness.manage(
        "shell",
        "-c",
        "from cauce.registry.tasks import prediction_jobs_expire_task as t; t.delay()",
    )
    deadline = time.monotonic() + 60
    while harness.psql("SELECT count(*) FROM registry_predictionjob", "cauce").strip() != "0":
        assert time.monotonic() < deadline, "the expiry task did not delete the jobs"
        time.sleep(0.5)
    assert _bucket_keys(harness, "predictions/") == []

    assert _local_media_files(harness) == []
    assert len(list(harness.root.glob("data-worker*"))) >= 2
