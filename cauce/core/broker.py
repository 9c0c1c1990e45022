"""kombu's file-system transport, with messages written atomically.

kombu writes a message straight into the queue folder under its final name, while a
consumer polling that folder moves and reads whatever ``*.msg`` file it finds. A consumer
that polls between the writer's ``open`` and its ``write`` takes an empty file, and the
worker dies on ``JSONDecodeError``. Here the message is written under a name the consumer
ignores and renamed into place, which is atomic within one folder. ``config.settings`` sets
it as Celery's transport whenever the broker URL is ``filesystem://``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from time import monotonic

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # ``_get`` only takes names ending in ``.<queue>.msg``: this one is invisible to it.
        partial = os.path.join(self.data_folder_out, f".{name}.partial")
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
