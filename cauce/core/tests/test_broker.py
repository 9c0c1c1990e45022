"""The embedded broker: a reader never takes a message that is still being written."""

import multiprocessing

from kombu import Connection

from cauce.core.broker import Transport

MESSAGES_PER_WRITER = 300
PAYLOAD = "x" * 20_000  # large enough that a write is not one instant


def _options(folder) -> dict:
    queue = str(folder / "queue")
    return {"data_folder_in": queue, "data_folder_out": queue, "store_processed": False}


def _write(folder, writer: int) -> None:
    with Connection(transport=Transport, transport_options=_options(folder)) as connection:
        queue = connection.SimpleQueue("atomic")
        for index in range(MESSAGES_PER_WRITER):
            queue.put({"writer": writer, "index": index, "payload": PAYLOAD})
        queue.close()


def test_messages_written_by_other_processes_are_read_whole(tmp_path):
    (tmp_path / "queue").mkdir()
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_write, args=(tmp_path, n)) for n in (1, 2)]
    for process in writers:
        process.start()
    seen: set[tuple[int, int]] = set()
    with Connection(transport=Transport, transport_options=_options(tmp_path)) as connection:
        queue = connection.SimpleQueue("atomic")
        while len(seen) < 2 * MESSAGES_PER_WRITER:
            message = queue.get(timeout=30)
            body = message.payload
            assert body["payload"] == PAYLOAD
            seen.add((body["writer"], body["index"]))
            message.ack()
        queue.close()
    for process in writers:
        process.join(timeout=30)
        assert process.exitcode == 0
    assert len(seen) == 2 * MESSAGES_PER_WRITER
    assert [path.name for path in (tmp_path / "queue").iterdir()] == []
