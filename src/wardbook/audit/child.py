"""The audit process: commits one server process's audit records, off that server's GIL.

Started by :class:`wardbook.audit.process.AuditProcessWriter` as ``python -m
wardbook.audit.child FD`` with its end of a private socket pair. The first message is the
configuration (``config``: database URL, flush interval, batch size, log level: the URL
never appears on a command line). Then it runs an ordinary buffered
:class:`~wardbook.audit.writer.AuditWriter` on its own connection to the database and
answers:

- ``records`` (a list of :class:`AuditRecord`, in order): queued on the writer; after each
  committed batch the process reports ``written`` with the batch's size, so the server
  knows which records it may forget (always the oldest: batches are written in order).
  ``records`` marked *resent* come from a process that died; any of them already
  committed (the dead process committed but could not report it) form a prefix of them,
  are reported ``written`` and not written again (their AuditEvent ids were chosen by the
  server, so they are found in ``audit_chain``).
- ``flush`` (a token): everything received is committed now; answered ``flushed`` with
  the token and ``None``, or the error's text (the records stay queued and are retried).

- ``go``: on SQLite, the audit process asks its server for the write turn (``turn``)
  before each batch and hands it back (``turn-done``) after the commit: meanwhile the
  server's own writers queue on its asyncio lock instead of polling SQLite's file lock
  with back-off, which cost creates a third of their rate.

End of file on the socket -- the server stopped, or died (``kill -9``) -- commits what was
received and exits. SIGINT and SIGTERM are ignored: a Ctrl-C or a service manager's
SIGTERM to the whole process group reaches the server, which flushes to this process
before closing the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from wardbook.audit import frames
from wardbook.audit.records import AuditRecord
from wardbook.audit.writer import AuditWriter
from wardbook.storage.base import Repository
from wardbook.storage.factory import open_repository

log = logging.getLogger("wardbook.audit")

_ID_CHUNK = 500


def writer_database_url(url: str) -> str:
    """``url`` for the audit process: PostgreSQL without dedicated read connections.

    The pool (at most two connections, none opened in advance) is all it needs, and
    opening it does not fail while the database is down: batches are retried instead.
    """
    if not url.startswith(("postgresql:", "postgres:")):
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    query = [(k, v) for k, v in query if k != "read_connections"] + [("read_connections", "0")]
    return urlunsplit(parts._replace(query=urlencode(query)))


async def committed_prefix(repository: Repository, records: Sequence[AuditRecord]) -> int:
    """How many of ``records`` (oldest first) already have their chain row committed."""
    ids = [record.event_id for record in records if record.event_id]
    found: set[str] = set()
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = await repository.query(
            # constant SQL, values bound:
            f"SELECT event_id FROM audit_chain WHERE event_id IN ({marks})",  # nosec B608
            chunk,
        )
        found.update(str(row[0]) for row in rows)
    count = 0
    for record in records:
        if record.event_id not in found:
            break
        count += 1
    return count


class TurnBorrower:
    """The server's SQLite write turn, asked for and given back over the socket.

    Once the server is gone (end of file), batches take SQLite's file lock on their own.
    """

    def __init__(self, stream: asyncio.StreamWriter) -> None:
        self._stream = stream
        self._granted: asyncio.Future[None] | None = None
        self._closed = False

    def granted(self) -> None:
        if self._granted is not None and not self._granted.done():
            self._granted.set_result(None)

    def close(self) -> None:
        self._closed = True
        self.granted()

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if self._closed:
            yield
            return
        self._granted = asyncio.get_running_loop().create_future()
        self._stream.write(frames.encode(("turn",)))
        await self._granted
        try:
            yield
        finally:
            if not self._closed:
                self._stream.write(frames.encode(("turn-done",)))


async def serve(sock: socket.socket) -> None:
    """Receive, commit and acknowledge records until the server closes the socket."""
    reader, stream = await asyncio.open_connection(sock=sock)
    first = await frames.read(reader)
    if first is None or first[0] != "config":
        raise RuntimeError("the audit process expected its configuration first")
    config: dict[str, Any] = first[1]
    logging.getLogger().setLevel(str(config.get("log_level", "info")).upper())
    repository = open_repository(
        writer_database_url(config["database_url"]), pool_min_size=0, pool_max_size=2
    )
    await repository.open()

    def report(count: int) -> None:
        stream.write(frames.encode(("written", count)))

    borrower = TurnBorrower(stream)
    writer = AuditWriter(
        repository,
        flush_ms=int(config["flush_ms"]),
        max_queue=int(config["max_queue"]),
        max_batch=int(config["max_batch"]),
        on_written=report,
        report_metrics=False,
        inline=True,
        write_turn=borrower.turn if config.get("borrow_turn") else None,
    )
    await writer.start()
    stream.write(frames.encode(("ready",)))
    inbox: asyncio.Queue[tuple[Any, ...] | None] = asyncio.Queue()
    worker = asyncio.create_task(_answer(inbox, stream, repository, writer, report))
    try:
        # Read on, whatever the worker is waiting for: a batch waiting for its write turn
        # must still see the "go".
        while (message := await frames.read(reader)) is not None:
            if message[0] == "go":
                borrower.granted()
            else:
                inbox.put_nowait(message)
        borrower.close()
        inbox.put_nowait(None)
        await worker
    finally:
        try:
            await writer.stop()  # commits everything received
        except Exception:
            log.exception("audit process: %d record(s) could not be committed", writer.pending)
        await repository.close()
        stream.close()


async def _answer(
    inbox: asyncio.Queue[tuple[Any, ...] | None],
    stream: asyncio.StreamWriter,
    repository: Repository,
    writer: AuditWriter,
    report: Callable[[int], None],
) -> None:
    while (message := await inbox.get()) is not None:
        kind = message[0]
        if kind == "records":
            records: list[AuditRecord] = message[1]
            if message[2]:  # resent: some may be committed already
                done = await committed_prefix(repository, records)
                if done:
                    report(done)
                    records = records[done:]
            for record in records:
                await writer.submit(record)
        elif kind == "flush":
            error: str | None = None
            try:
                await writer.flush()
            except Exception as exc:  # the records stay queued; the writer retries
                error = f"{type(exc).__name__}: {exc}"
            stream.write(frames.encode(("flushed", message[1], error)))
        else:
            raise RuntimeError(f"the audit process got an unknown message {kind!r}")


def main(argv: Sequence[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from wardbook.ops.logging import configure

    configure("info")
    sock = socket.socket(fileno=int(argv[0]))
    try:
        asyncio.run(serve(sock))
    except Exception:
        log.exception("the audit process failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
