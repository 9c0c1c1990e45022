"""The harness itself: every part answers, one experiment goes through all of them."""

import time

import boto3
from mlflow.tracking import MlflowClient

from tests.production.harness import AWS_KEYS, BUCKET


def test_every_part_answers_and_an_experiment_goes_through_all_of_them(harness):
    ready = harness.api(None, "GET", "/health/ready")
    assert ready.status_code == 200, ready.text
    harness.start_workers(1)
    seed = harness.seed()

    [experiment_id] = harness.queue_experiments(seed, 1)
    statuses = harness.wait_experiments(seed, [experiment_id], timeout=120)

    assert statuses == {experiment_id: "FINISHED"}
    experiment = harness.experiment(seed, experiment_id)
    run = MlflowClient(tracking_uri=harness.mlflow_url).get_run(experiment["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["cauce.experiment_id"] == experiment_id
    # The artifacts went through MLflow's proxy into the S3 bucket.
    s3 = boto3.client(
        "s3",
        endpoint_url=harness.s3_url,
        aws_access_key_id=AWS_KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_KEYS["AWS_SECRET_ACCESS_KEY"],
        region_name=AWS_KEYS["AWS_DEFAULT_REGION"],
    )
    keys = [
        item["Key"]
        for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="artifacts/").get("Contents", [])
    ]
    assert any(run.info.run_id in key for key in keys), keys
    # MLflow's address is the proxy's: the experiment's requests went to both servers.
    servers = {f"127.0.0.1:{port}" for port in harness.mlflow_server_ports}
    assert len(servers) == 2
    deadline = time.monotonic() + 10  # nginx writes its access log within 1 s
    while not servers <= set(harness.mlflow_upstreams()) and time.monotonic() < deadline:
        time.sleep(0.5)
    upstreams = harness.mlflow_upstreams()
    assert servers <= set(upstreams), upstreams
    # Cauce's database is the harness's PostgreSQL.
    rows = harness.psql("SELECT id, status FROM experiments_mlexperiment", "cauce")
    assert f"{experiment_id}|FINISHED" in rows.split()
