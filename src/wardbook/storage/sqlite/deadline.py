"""A time limit on one SQLite search: a progress handler interrupts the running statement.

SQLite has no ``statement_timeout``; its progress handler is called every N virtual machine
instructions and a non-zero return aborts the statement with "interrupted" (SQLite C API
``sqlite3_progress_handler``). The connection stays usable afterwards; the interrupted
search is answered 503 with Retry-After (:class:`~wardbook.storage.base.SearchTimeout`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

from wardbook.storage.base import SearchTimeout, StorageError

# Instructions between two clock checks: a few microseconds of work, so the check is cheap
# and the limit is kept to well under a millisecond.
_CHECK_EVERY = 1000


@contextmanager
def search_deadline(conn: sqlite3.Connection, timeout_ms: int | None) -> Iterator[None]:
    """Interrupt statements on ``conn`` once ``timeout_ms`` have passed (None/0: no limit)."""
    if not timeout_ms:
        yield
        return
    deadline = time.monotonic() + timeout_ms / 1000
    fired = False

    def check() -> int:
        nonlocal fired
        if time.monotonic() > deadline:
            fired = True
            return 1
        return 0

    conn.set_progress_handler(check, _CHECK_EVERY)
    try:
        yield
    except (StorageError, sqlite3.OperationalError) as error:
        if fired:
            raise SearchTimeout(timeout_ms) from error
        raise
    finally:
        conn.set_progress_handler(None, 0)
