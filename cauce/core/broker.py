"""The embedded (``filesystem://``) broker, safe with several processes writing and reading.

kombu's file-system transport writes a message by opening its final file name and then
writing to it, while a reader lists the folder and reads whatever file it finds, without
a lock. With a prefork pool, pool processes send messages (retries, dispatches, tag
pushes) while the worker's main process reads the queue: the reader can take a file that
is still empty, fails to decode it and the worker stops ("Unrecoverable error:
JSONDecodeError"). Here a message is written under a name no reader looks at and then
renamed into place, which is atomic on one file system, so a reader only ever sees whole
messages. Everything else is kombu's.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

# Readers take only names ending in ``.<queue>.msg``.
_PARTIAL_SUFFIX = ".partial"


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put ``payload`` onto ``queue``: written aside, then renamed into the queue."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + _PARTIAL_SUFFIX
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
