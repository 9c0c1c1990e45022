"""Streamed answers are marked for the proxy in front to relay unbuffered; others are not."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_page_and_a_static_file_stay_buffered(client, owner):
    client.force_login(owner)
    page = client.get("/projects/")
    assert page.status_code == 200
    assert "X-Accel-Buffering" not in page.headers

    static = client.get("/static/cauce/app.css")
    assert static.status_code == 200
    assert "X-Accel-Buffering" not in static.headers


def test_a_dataset_file_is_relayed_as_it_comes(owner_client, iris_dataset):
    response = owner_client.get(f"/datasets/{iris_dataset.pk}/download/")
    assert response.status_code == 200
    assert response.streaming
    assert response["X-Accel-Buffering"] == "no"
