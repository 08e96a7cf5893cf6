"""A local ``wardbook serve`` child process for drills, tests and load runs (loopback only).

One implementation for the test suite's ``Server`` fixture and the load test's server: it
starts ``wardbook serve`` in its own session (so it leads a new process group), waits for
``/livez``, and stops it with SIGINT -- or kills it like a power cut: SIGKILL to the whole
process group, so that granian's worker processes die with their parent instead of living
on as orphans that still hold the port and the database.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess  # runs our own console script, never a shell  # nosec B404
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

WARDBOOK = str(Path(sys.executable).parent / "wardbook")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def temporary_log(prefix: str) -> Path:
    """A new, empty log file in the temporary folder (its descriptor closed: no fd leak)."""
    descriptor, name = tempfile.mkstemp(prefix=prefix, suffix=".log")
    os.close(descriptor)
    return Path(name)


def live_group_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that still run (Linux /proc; zombies count as dead)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


def _kill_group(pgid: int, timeout: float = 10.0) -> None:
    """SIGKILL every process of the group and wait until none of them runs any more."""
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while live_group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)


@dataclass
class ServerProcess:
    """A running (or stopped) ``wardbook serve`` on 127.0.0.1: database, port and process."""

    database: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    workers: int = 1
    no_auth: bool = True
    startup_seconds: float = 60.0

    @property
    def base(self) -> str:
        """The server's base URL (web app at /, FHIR at /fhir)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def fhir(self) -> str:
        """The FHIR base URL."""
        return f"{self.base}/fhir"

    def command(self) -> list[str]:
        """The argv that starts the server (subclasses may run another release)."""
        return [
            *(WARDBOOK, "serve", "--database", self.database),
            *("--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers)),
            *(["--no-auth"] if self.no_auth else []),
        ]

    def environment(self) -> dict[str, str]:
        """The child's environment: ours, with quieter logs."""
        return {**os.environ, "WARDBOOK_LOG_LEVEL": "warning"}

    def start(self) -> None:
        """Start the server and wait until ``/livez`` answers (RuntimeError if it exits)."""
        if self.log is None:
            self.log = temporary_log("wardbook-server-")
        with self.log.open("ab") as log:
            # A new session makes the server a process-group leader: kill() reaches its workers.
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell  # nosec B603
                self.command(),
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                livez = f"{self.base}/livez"  # http on loopback, never a file: URL
                with urllib.request.urlopen(livez, timeout=1):  # noqa: S310  # nosec B310
                    return
            except OSError:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server did not become live in {self.startup_seconds:.0f} s")

    def kill(self) -> None:
        """SIGKILL the server's whole process group: no shutdown hooks, no flush -- what a
        power cut looks like -- and no orphaned worker left behind."""
        if self.process is None:
            return
        _kill_group(self.process.pid)
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        """Graceful stop (SIGINT, as Ctrl-C), falling back to kill() after 15 s."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        _kill_group(self.process.pid)  # the parent is gone; so must any worker be
        self.process = None
