"""kombu's filesystem transport, made safe for several processes.

The embedded default needs a broker with no server, and kombu's filesystem
transport is that broker. As shipped (kombu 5.7) it has two races that matter the
moment a web process and a worker share a folder:

- a producer creates the message file and only then writes it, so a consumer that
  lists the folder in between takes an empty file and the worker dies on a
  JSONDecodeError ("Unrecoverable error");
- without `store_processed`, a consumer moves messages to the system temp folder,
  which may be another filesystem, where a "move" is a copy that two consumers can
  both make.

Here a producer writes under a name no consumer matches and renames it into place,
and a consumer claims a message by renaming it within the broker folder (atomic on
one filesystem, so exactly one consumer wins), then reads and deletes it.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.transport.virtual import Empty
from kombu.utils.json import dumps, loads


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".partial-{name}")
        try:
            with open(partial, "wb") as handle:
                handle.write(dumps(payload).encode())
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add a message to {self.data_folder_out!r}") from exc

    def _get(self, queue: str) -> Any:
        wanted = f"{queue}.msg"
        claimed_folder = self.processed_folder
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = os.path.join(claimed_folder, f"{name}.{uuid.uuid4().hex}")
            try:
                os.rename(os.path.join(self.data_folder_in, name), claimed)
            except OSError:
                continue  # another consumer took it first
            try:
                with open(claimed, "rb") as handle:
                    payload = handle.read()
            finally:
                if not self.store_processed:
                    os.remove(claimed)
            return loads(payload.decode())
        raise Empty()


class Transport(filesystem.Transport):
    Channel = Channel
