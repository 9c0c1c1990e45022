"""The file-system broker never hands a consumer a message that is still being written."""

import os
import subprocess
import sys
from queue import Empty

import pytest
from kombu import Connection

from cauce.core import broker


@pytest.fixture
def channel(tmp_path):
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(tmp_path / "control"),
    }
    with Connection(transport=broker.Transport, transport_options=options) as connection:
        yield connection.default_channel


def test_a_message_being_written_is_invisible_to_consumers(channel, monkeypatch):
    seen_while_writing = []
    real_replace = os.replace

    def replace_after_a_poll(source, destination):
        # The moment kombu's own transport would expose a half-written file: poll now.
        try:
            seen_while_writing.append(channel._get("jobs"))
        except Empty:
            seen_while_writing.append(None)
        real_replace(source, destination)

    monkeypatch.setattr(broker.os, "replace", replace_after_a_poll)
    channel._put("jobs", {"body": "hello"})

    assert seen_while_writing == [None]
    assert channel._get("jobs") == {"body": "hello"}
    with pytest.raises(Empty):
        channel._get("jobs")


def test_a_failed_write_leaves_no_file(channel, monkeypatch, tmp_path):
    def refuse(source, destination):
        raise PermissionError("read-only")

    monkeypatch.setattr(broker.os, "replace", refuse)
    with pytest.raises(broker.filesystem.ChannelError):
        channel._put("jobs", {"body": "hello"})
    assert os.listdir(tmp_path / "queue") == []


def test_the_embedded_broker_of_the_settings_uses_it(tmp_path):
    """A fresh process on ``filesystem://`` (this run's own broker may be Redis)."""
    code = (
        "import django; django.setup(); from config.celery import app; "
        "print(type(app.connection_for_write().default_channel).__module__)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CELERY_BROKER_URL": "filesystem://",
        "CAUCE_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=60,
    )
    assert result.stdout.strip() == "cauce.core.broker"
