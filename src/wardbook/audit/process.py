"""The audit writer of ``wardbook serve``: records are committed by a separate process.

Why a process: building an indexed AuditEvent (and a Provenance for writes), its chain
link and its inserts costs more CPU than the read it audits, and on a thread it competes
for the one GIL of the server process (docs/benchmarks.md, "Foundation"). Here the server
only pickles its :class:`AuditRecord` objects (a few µs each) onto a private socket pair;
the audit process (:mod:`wardbook.audit.child`) runs the ordinary buffered
:class:`~wardbook.audit.writer.AuditWriter` on its own database connection and reports
each committed batch back.

The guarantees of the in-process writer hold (docs/security.md, "Audit"):

- **Bounded buffer, back-pressure.** A record counts as pending from ``submit`` until the
  audit process reports it committed; at ``max_queue`` pending records, requests wait.
- **Nothing lost when the audit process dies.** The server keeps every record until it is
  reported committed. When the socket closes under it, the process is started again (with
  back-off) and is sent every unreported record, marked *resent*. AuditEvent ids are
  chosen here, so the new process recognises records the dead one committed without
  reporting them and does not write them twice. ``/readyz`` answers 503 while no audit
  process is running; ``wardbook_audit_writer_restarts_total`` counts the restarts.
- **Write-now and flush.** :meth:`write_now` (break-the-glass) and :meth:`flush` return
  once the audit process has committed everything sent before them, and raise if it
  could not (the records stay queued and are retried), as the in-process writer does.
- **Clean shutdown** flushes, then closes the socket; the audit process commits anything
  left and exits. If the *server* dies (``kill -9``), the audit process still commits the
  records it had received: only those not yet sent (at most ``send_ms``) are lost.
- **One hash chain.** The audit process takes the same chain lock as every other writer
  (SQLite's write lock, a PostgreSQL advisory lock), so several workers -- each with its
  own audit process -- still append to one valid chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections import deque
from dataclasses import dataclass
from typing import Any

from wardbook.audit import frames
from wardbook.audit.records import AuditRecord
from wardbook.audit.writer import _uuid7s, count_security_event
from wardbook.ops import metrics
from wardbook.storage.base import StorageError
from wardbook.storage.sqlite import SqliteRepository

log = logging.getLogger("wardbook.audit")

_READY_TIMEOUT = 60.0  # s for a new audit process to open the database
_CONNECT_WAIT = 10.0  # s a flush waits for an audit process (one restarting)
_STOP_WAIT = 30.0  # s shutdown waits for one before giving up on the flush
_MAX_BACKOFF = 5.0


@dataclass(slots=True)
class _Link:
    """One running audit process and the server's end of its socket."""

    process: asyncio.subprocess.Process
    reader: asyncio.StreamReader
    stream: asyncio.StreamWriter


class AuditProcessWriter:
    """Hands audit records to an audit process (see module docstring).

    Same interface as :class:`~wardbook.audit.writer.AuditWriter`.
    """

    def __init__(
        self,
        database_url: str,
        *,
        flush_ms: int = 100,
        max_queue: int = 20_000,
        max_batch: int = 1_000,
        # Records go over in one message per 20 ms: sending every 5 ms woke the audit
        # process so often that it cost the server as much CPU per read as the audit work
        # itself had (benchmarks.inproc, PostgreSQL: read 387 µs against 197 at 20 ms).
        send_ms: int = 20,
        log_level: str = "info",
        lend_turns_of: SqliteRepository | None = None,
    ) -> None:
        self.database_url = database_url
        # SQLite: the audit process borrows this repository's write turn for each batch.
        self.lender = lend_turns_of
        self.interval = flush_ms / 1000
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.send_delay = min(send_ms, flush_ms) / 1000
        self.log_level = log_level
        self._in_flight: deque[AuditRecord] = deque()  # sent, not yet reported committed
        self._unsent: list[AuditRecord] = []
        self._resend = 0  # how many of _unsent a dead audit process may have committed
        self._flushes: dict[int, asyncio.Future[str | None]] = {}
        self._tokens = 0
        self._link: _Link | None = None
        self._connected = asyncio.Event()
        self._room = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._turn_done: asyncio.Future[None] | None = None
        self.written = 0
        self.dropped = 0
        self.restarts = 0

    # -- the AuditWriter interface ---------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._supervisor is not None and not self._supervisor.done()

    @property
    def pending(self) -> int:
        return len(self._in_flight) + len(self._unsent)

    @property
    def healthy(self) -> bool:
        """False while started without a live audit process (``/readyz`` answers 503)."""
        return self._supervisor is None or self._connected.is_set()

    @property
    def pid(self) -> int | None:
        """The audit process's id, while one runs."""
        return self._link.process.pid if self._link is not None else None

    async def start(self) -> None:
        """Start the audit process; return once it is ready (or after ``_READY_TIMEOUT``).

        Waiting here keeps the server from answering before it can audit: ``/readyz``
        would say 503 for that second. If the audit process does not come up in time,
        the server starts anyway, not ready, buffering, while it is retried.
        """
        if not self.running:
            self._stopping = False
            self._supervisor = asyncio.create_task(self._supervise(), name="wardbook-audit")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), _READY_TIMEOUT)

    async def stop(self) -> None:
        """Flush, then let the audit process commit what is left and exit."""
        supervisor = self._supervisor
        if supervisor is None:
            return
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), _STOP_WAIT)
            await self.flush()
        finally:
            self._stopping = True
            link = self._link
            if link is not None:
                link.stream.close()  # end of file: the audit process commits and exits
            await asyncio.wait([supervisor])
            self._supervisor = None
            left = self.pending
            if left:
                log.error("audit writer stopped with %d record(s) not committed", left)

    async def submit(self, record: AuditRecord) -> None:
        """Queue a record; waits only when the bounded buffer is full."""
        count_security_event(record)
        while self.pending >= self.max_queue:
            if not self.running:
                # Nobody will send (an app used without its lifespan): keep the newest.
                if self._unsent:
                    del self._unsent[0]
                    self.dropped += 1
                break
            self._room.clear()
            await self._room.wait()
        self._unsent.append(record)
        if len(self._unsent) >= self.max_batch:
            self._send()
        elif self._send_timer is None and self._link is not None:
            loop = asyncio.get_running_loop()
            self._send_timer = loop.call_later(self.send_delay, self._send)

    async def write_now(self, record: AuditRecord) -> None:
        """Queue a record and return once it (and everything before it) is committed."""
        count_security_event(record)
        self._unsent.append(record)
        await self.flush()

    async def flush(self) -> None:
        """Have everything queued so far committed now; raise if that failed."""
        if not self.pending:
            return
        if self._supervisor is None:
            raise StorageError("the audit writer process was not started")
        try:
            await asyncio.wait_for(self._connected.wait(), _CONNECT_WAIT)
        except TimeoutError:
            raise StorageError("the audit writer process is not running") from None
        link = self._link
        if link is None:
            raise StorageError("the audit writer process is not running")
        self._send()
        self._tokens += 1
        token = self._tokens
        answer: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._flushes[token] = answer
        link.stream.write(frames.encode(("flush", token)))
        error = await answer
        if error is not None:
            raise StorageError(f"audit records could not be committed: {error}")

    # -- sending ---------------------------------------------------------------------------

    def _send(self) -> None:
        """Send every unsent record to the audit process in one message."""
        timer, self._send_timer = self._send_timer, None
        if timer is not None:
            timer.cancel()
        link = self._link
        if link is None or not self._unsent:
            return
        batch, self._unsent = self._unsent, []
        fresh = [record for record in batch if record.event_id is None]
        for record, event_id in zip(fresh, _uuid7s(len(fresh)), strict=True):
            record.event_id = event_id
        resent, self._resend = self._resend, 0
        if resent:
            link.stream.write(frames.encode(("records", batch[:resent], True)))
        if len(batch) > resent:
            link.stream.write(frames.encode(("records", batch[resent:], False)))
        self._in_flight.extend(batch)

    # -- the audit process -----------------------------------------------------------------

    async def _supervise(self) -> None:
        """Keep one audit process running; after it dies, send its records again."""
        backoff = 0.1
        while not self._stopping:
            try:
                link = await self._spawn()
            except Exception:
                log.exception("the audit writer process did not start; retrying")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            self._link = link
            self._connected.set()
            self._send()
            backoff = 0.1
            try:
                await self._receive(link)
            except Exception:  # a protocol error: start over with a new audit process
                log.exception(
                    "audit writer process %d: bad report; restarting it", link.process.pid
                )
                if link.process.returncode is None:
                    link.process.kill()
            self._connected.clear()
            self._link = None
            code = await link.process.wait()
            link.stream.close()
            if self._stopping:
                break
            self._lost(link, code)
            await asyncio.sleep(min(backoff, 0.1))
        self._connected.clear()

    def _lost(self, link: _Link, code: int | None) -> None:
        """The audit process died: everything it was sent goes again to the next one."""
        self.restarts += 1
        metrics.AUDIT_WRITER_RESTARTS.inc()
        again = list(self._in_flight)
        self._in_flight.clear()
        self._unsent[:0] = again
        self._resend += len(again)
        log.error(
            "the audit writer process %d ended (exit code %s) with %d record(s) not"
            " reported committed; starting another and sending them again",
            link.process.pid,
            code,
            len(again),
        )

    async def _lend_turn(self, link: _Link) -> None:
        """Hold this process's SQLite write turn while the audit process writes a batch."""
        if self.lender is None:  # asked for only when configured
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        async with self.lender.write_turn():
            if link.stream.is_closing() or self._link is not link:
                return
            self._turn_done = done
            link.stream.write(frames.encode(("go",)))
            await done

    async def _spawn(self) -> _Link:
        ours, theirs = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "wardbook.audit.child",
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        try:
            reader, stream = await asyncio.open_connection(sock=ours)
            config = {
                "database_url": self.database_url,
                "flush_ms": int(self.interval * 1000),
                "max_batch": self.max_batch,
                # The server bounds what it sends; write_now may pass the bound a little.
                "max_queue": self.max_queue + 1_000,
                "log_level": self.log_level,
                "borrow_turn": self.lender is not None,
            }
            stream.write(frames.encode(("config", config)))
            ready = await asyncio.wait_for(frames.read(reader), _READY_TIMEOUT)
            if ready is None or ready[0] != "ready":
                raise RuntimeError("the audit process ended at start")
        except BaseException:
            ours.close()
            if process.returncode is None:
                process.kill()
            await process.wait()
            raise
        log.info("audit writer process %d started", process.pid)
        return _Link(process, reader, stream)

    async def _receive(self, link: _Link) -> None:
        """Apply the audit process's reports until its socket closes."""
        try:
            while (message := await frames.read(link.reader)) is not None:
                self._apply(link, message)
        finally:
            if self._turn_done is not None and not self._turn_done.done():
                self._turn_done.set_result(None)  # a dead process's turn ends with it
            # Flushes in progress fail (their records stay queued for the next process).
            for answer in self._flushes.values():
                if not answer.done():
                    answer.set_result("the audit writer process ended")
            self._flushes.clear()

    def _apply(self, link: _Link, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "written":
            count = int(message[1])
            if count > len(self._in_flight):
                raise RuntimeError(f"{count} records reported, {len(self._in_flight)} sent")
            for _ in range(count):
                self._in_flight.popleft()
            self.written += count
            metrics.AUDIT_WRITTEN.inc(count)
            self._room.set()
        elif kind == "turn":
            task = asyncio.create_task(self._lend_turn(link))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif kind == "turn-done":
            if self._turn_done is not None and not self._turn_done.done():
                self._turn_done.set_result(None)
        elif kind == "flushed":
            answer = self._flushes.pop(int(message[1]), None)
            if answer is not None and not answer.done():
                answer.set_result(message[2])
