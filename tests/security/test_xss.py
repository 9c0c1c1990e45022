"""XSS: markup in names, tags and column names is shown escaped on every page that shows it."""

import io

import pandas as pd
import pytest
from django.urls import reverse

from cauce.core.exceptions import ApplicationError
from cauce.experiments import services as experiment_services
from cauce.registry.models import RegisteredModel
from cauce.registry.services import registered_model_name_check

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
# What must never reach a page, and the escaped text that must be there instead.
RAW = ("<script>alert(1)", "<img src=x onerror")
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
ESCAPED_IMG = "&lt;img src=x onerror=alert(1)&gt;"


@pytest.fixture
def hostile(media_root, project, owner, make_dataset):
    """A dataset, columns, an experiment and tags all named with markup."""
    frame = pd.DataFrame(
        {SCRIPT: [1.0, 2.0, 3.0, 4.0] * 5, IMG: [4.0, 3.0, 2.0, 1.0] * 5, "y": ["a", "b"] * 10}
    )
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    dataset = make_dataset(project, buffer.getvalue().encode(), "x.csv", name=f"Datos {SCRIPT}")
    experiment = experiment_services.experiment_create(
        project=project,
        user=owner,
        name=f"Exp {IMG}",
        dataset=dataset,
        target_column="y",
        algorithm="LogisticRegression",
        tags=[SCRIPT, IMG],
    )
    return {"dataset": dataset, "experiment": experiment}


def assert_escaped(body: str, *escaped: str) -> None:
    for raw in RAW:
        assert raw not in body
    for text in escaped:
        assert text in body


def test_the_columns_keep_their_markup_names(hostile):
    """The premise: the markup really is stored, so the pages below are tested with it."""
    assert [column["name"] for column in hostile["dataset"].schema][:2] == [SCRIPT, IMG]
    assert sorted(hostile["experiment"].tags.names()) == sorted([SCRIPT, IMG])


@pytest.mark.parametrize(
    ("page", "shows"),
    [
        ("project", (ESCAPED_SCRIPT, ESCAPED_IMG)),
        ("experiment_list", (ESCAPED_SCRIPT, ESCAPED_IMG)),
        ("experiment_all", (ESCAPED_SCRIPT, ESCAPED_IMG)),
        ("experiment_detail", (ESCAPED_SCRIPT, ESCAPED_IMG)),
        ("experiment_edit", (ESCAPED_SCRIPT, ESCAPED_IMG)),
        ("experiment_create", (ESCAPED_SCRIPT, ESCAPED_IMG)),
        ("dataset_detail", (ESCAPED_SCRIPT, ESCAPED_IMG)),
    ],
)
def test_markup_is_shown_escaped(owner_client, project, hostile, page, shows):
    experiment, dataset = hostile["experiment"], hostile["dataset"]
    url = {
        "project": reverse("projects:project_detail", args=[project.pk]),
        "experiment_list": reverse("experiments:ml_experiment_list", args=[project.pk]),
        "experiment_all": reverse("experiments:ml_experiment_all"),
        "experiment_detail": reverse("experiments:ml_experiment_detail", args=[experiment.pk]),
        "experiment_edit": reverse("experiments:ml_experiment_edit", args=[experiment.pk]),
        "experiment_create": reverse("experiments:ml_experiment_create", args=[project.pk])
        + f"?dataset={dataset.pk}",
        "dataset_detail": reverse("datasets:dataset_detail", args=[dataset.pk]),
    }[page]
    response = owner_client.get(url)
    assert response.status_code == 200
    assert_escaped(response.content.decode(), *shows)


def test_registry_pages_show_a_markup_model_name_escaped(owner_client, project):
    """MLflow's names cannot hold markup (see below); a row written some other way is escaped."""
    RegisteredModel.objects.create(project=project, name=f"m{IMG}")
    for url in (
        reverse("registry:model_list"),
        reverse("registry:project_models", args=[project.pk]),
    ):
        response = owner_client.get(url)
        assert response.status_code == 200
        assert_escaped(response.content.decode(), ESCAPED_IMG)


@pytest.mark.parametrize("name", [SCRIPT, IMG, f"modelo{SCRIPT}"])
def test_a_model_name_with_markup_is_refused(name):
    with pytest.raises(ApplicationError) as refused:
        registered_model_name_check(name)
    assert refused.value.message == (
        "El nombre del modelo solo puede tener letras, números, «_», «-» y «.», "
        "y no puede empezar por «.»."
    )


def test_the_artifacts_tab_shows_markup_file_names_escaped(owner_client, make_run_experiment):
    """A real run on the real MLflow server logs files whose names hold markup."""
    experiment = make_run_experiment(
        {f"{IMG}.txt": b"hola", f"carpeta {IMG}/dentro.txt": b"hola"}, name="Artefactos"
    )
    response = owner_client.get(reverse("artifacts:tab", args=[experiment.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert_escaped(body, ESCAPED_IMG)
    assert body.count(ESCAPED_IMG) >= 2  # the file and the folder
