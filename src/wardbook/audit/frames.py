"""Messages between a server process and its audit process: length-prefixed pickles.

Pickle is safe here: both ends are this program, and the socket pair is private to them
(created by the server before it starts the audit process, never bound to an address).
It also carries :class:`~wardbook.audit.records.AuditRecord` objects as they are,
response bodies as bytes, for about 3 µs a record.
"""

from __future__ import annotations

import asyncio
import pickle  # nosec B403 - see the module docstring
import struct
from typing import Any

_HEADER = struct.Struct("!I")


def encode(message: tuple[Any, ...]) -> bytes:
    """One message as bytes to write to the socket."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(payload)) + payload


async def read(reader: asyncio.StreamReader) -> tuple[Any, ...] | None:
    """The next message, or None once the other side has closed (or died)."""
    try:
        head = await reader.readexactly(_HEADER.size)
        payload = await reader.readexactly(_HEADER.unpack(head)[0])
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    message: tuple[Any, ...] = pickle.loads(payload)  # noqa: S301  # nosec B301 - private pair
    return message
