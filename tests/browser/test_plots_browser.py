"""The "Gráficos" tab in a real Chromium: every plot the run logged loads, at its own size."""

import numpy as np
import pandas as pd
import pytest
from django.urls import reverse
from playwright.sync_api import expect

from cauce.experiments.models import MLExperiment
from cauce.experiments.runner import experiment_execute
from cauce.experiments.tests.runner_support import queued_experiment

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG = "temperatura_media_diaria_del_sensor_de_la_nave_principal_en_grados"


def sensors_csv() -> bytes:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({f"{LONG}_{index}": rng.normal(size=240) for index in range(6)})
    frame["turno"] = rng.choice(["mañana", "tarde", "noche"], size=240)
    frame["alarma"] = np.where(frame[f"{LONG}_0"] + frame[f"{LONG}_3"] > 0, "sí", "no")
    return frame.to_csv(index=False).encode()


def test_a_knn_run_shows_its_confusion_matrix_and_a_readable_importance_plot(
    transactional_db, mlflow, live_server, logged_in_page, owner, project, make_dataset
):
    dataset = make_dataset(project, sensors_csv(), "sensores.csv", name="Sensores")
    experiment = queued_experiment(
        dataset,
        name="Vecinos",
        target_column="alarma",
        feature_columns=[name for name in dataset.column_names if name != "alarma"],
        algorithm="KNeighborsClassifier",
        hyperparameters={},
    )
    experiment_execute(experiment_id=str(experiment.pk))
    experiment.refresh_from_db()
    assert experiment.status == MLExperiment.Status.FINISHED, experiment.error

    page = logged_in_page(owner, "pw-olga")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server.url + reverse("experiments:ml_experiment_detail", args=[experiment.pk]))
    page.get_by_role("tab", name="Gráficos").click()
    images = page.locator("#tab-graficos img[data-plot]")
    expect(images).to_have_count(2)
    expect(page.locator("#tab-graficos figcaption")).to_have_text(
        ["Matriz de confusión", "Importancia de las variables"]
    )
    sizes = []
    for index in range(2):
        image = images.nth(index)
        image.scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
        sizes.append(image.evaluate("img => [img.naturalWidth, img.clientWidth]"))
    # Not shrunk: the importance plot's 12 pt labels stay as large as the page's text.
    natural, shown = sizes[1]
    assert natural == 1000
    assert shown == natural
