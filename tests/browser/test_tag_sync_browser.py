"""Tag sync in a real browser: an edit shows as pending until a worker writes it to the run."""

import uuid

import pytest
from mlflow.tracking import MlflowClient
from playwright.sync_api import expect

from tests.fixtures.mlflow_server import stop_process
from tests.fixtures.worker import start_worker, wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_an_edit_is_pending_until_the_worker_syncs_it_to_the_run(
    logged_in_page, live_server, owner, make_run_experiment, settings, tmp_path
):
    # The pushes go to a queue no worker reads yet, so "pendiente" is there to be seen.
    private_queue = f"tag-sync-browser-{uuid.uuid4().hex[:8]}"
    settings.TAG_SYNC_QUEUE = private_queue
    experiment = make_run_experiment({"metrics.json": b"{}"}, name="Bosque")
    page = logged_in_page(owner, "pw-olga")

    page.goto(f"{live_server.url}/experiments/{experiment.pk}/edit/")
    page.fill("#id_tags", "beta, alfa")
    page.get_by_role("button", name="Guardar").click()
    expect(page.locator("#tag-sync")).to_contain_text("Etiquetas pendientes de sincronizar")
    page.goto(f"{live_server.url}/projects/{experiment.project_id}/experiments/")
    expect(page.locator("[data-sync-pending]")).to_have_text("pendiente")

    log_path = tmp_path / "worker.log"
    worker = start_worker(settings.MLFLOW_TRACKING_URI, log_path, queue=private_queue)
    try:
        wait_ready(worker, log_path, timeout=180)
        page.goto(f"{live_server.url}/experiments/{experiment.pk}/")
        # The block polls every 2 s and turns into the synced line once the worker is done.
        expect(page.locator("#tag-sync")).to_contain_text("Sincronizado con MLflow", timeout=60_000)
    finally:
        stop_process(worker)
    page.goto(f"{live_server.url}/projects/{experiment.project_id}/experiments/")
    expect(page.locator("[data-sync-pending]")).to_have_count(0)

    tags = (
        MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI)
        .get_run(experiment.mlflow_run_id)
        .data.tags
    )
    assert {key: tags.get(key) for key in ("tag_0", "tag_1", "all_tags", "tag_count")} == {
        "tag_0": "alfa",
        "tag_1": "beta",
        "all_tags": "alfa,beta",
        "tag_count": "2",
    }
