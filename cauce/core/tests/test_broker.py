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
    broker.use_atomic_filesystem_transport()
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    with Connection("filesystem://", transport_options=options) as connection:
        yield connection.default_channel


def test_filesystem_urls_use_the_atomic_transport(channel):
    assert isinstance(channel, broker.Channel)


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


def test_importing_the_celery_app_installs_it():
    """A fresh process: every process that sends or runs tasks imports ``config``."""
    code = (
        "import config; from kombu.transport import TRANSPORT_ALIASES; "
        "print(TRANSPORT_ALIASES['filesystem'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "cauce.core.broker:Transport"
