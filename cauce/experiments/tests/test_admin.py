import pytest
from django.urls import reverse

from cauce.experiments.tests.web_support import finish

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw-root"))
    return client


def test_the_changelist_filters_by_status(admin_user_client, experiment):
    url = reverse("admin:experiments_mlexperiment_changelist")
    response = admin_user_client.get(url, {"status__exact": "DRAFT"})
    assert response.status_code == 200
    assert "Iris base" in response.content.decode()
    assert admin_user_client.get(url, {"status__exact": "FINISHED"}).context["cl"].result_count == 0


def test_the_mlflow_fields_are_read_only(admin_user_client, experiment):
    finish(experiment)
    url = reverse("admin:experiments_mlexperiment_change", args=[experiment.pk])
    page = admin_user_client.get(url).content.decode()
    assert "0123456789abcdef0123456789abcdef" in page
    assert 'name="mlflow_run_id"' not in page
    assert 'name="status"' in page


def test_the_experiment_tags_are_listed_and_filtered_by_tag(admin_user_client, experiment):
    experiment.tags.set(["base", "otra"])
    url = reverse("admin:experiments_taggedexperiment_changelist")
    response = admin_user_client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 2
    assert str(experiment.pk) in response.content.decode()
    base = experiment.tags.get(name="base")
    assert admin_user_client.get(url, {"tag__id__exact": base.pk}).context["cl"].result_count == 1
