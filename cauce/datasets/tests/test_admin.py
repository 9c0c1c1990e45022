import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("ada", password="pw-ada"))
    return client


def test_the_admin_shows_the_schema_and_preview_read_only(admin_client, iris_dataset):
    response = admin_client.get(reverse("admin:datasets_dataset_change", args=[iris_dataset.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "<td>sepal_length</td><td>float64</td><td>numeric</td>" in body
    assert "<td>setosa</td>" in body
    assert 'name="row_count"' not in body  # computed fields are not editable
    assert 'name="name"' in body


def test_the_admin_cannot_add_datasets_without_a_file_check(admin_client):
    response = admin_client.get(reverse("admin:datasets_dataset_add"))

    assert response.status_code == 403
