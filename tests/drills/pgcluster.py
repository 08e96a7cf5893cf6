"""Throw-away PostgreSQL 15 clusters for the operations drills (replica, failover, PITR).

Each cluster is a real postmaster on its own loopback port and data directory, run as the
``postgres`` user (PostgreSQL refuses to run as root), stopped and deleted afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def as_postgres(
    *argv: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a command as the ``postgres`` user (directly when we already are it)."""
    command = list(argv)
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd="/tmp")
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr or result.stdout}")
    return result


def owned_temp_dir(prefix: str) -> Path:
    """A temporary directory the postgres user owns."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(0o700)
    return path


class Cluster:
    """One PostgreSQL cluster: ``init`` or ``base_backup_of``, then ``start``."""

    def __init__(self, root: Path, name: str) -> None:
        self.root = root
        self.data = root / name
        self.port = free_port()
        self.log = root / f"{name}.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def init(self, **settings: str) -> Cluster:
        as_postgres(
            f"{BIN}/initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )
        self.configure(
            wal_level="replica",
            max_wal_senders="10",
            max_replication_slots="10",
            hot_standby="on",
            shared_buffers="32MB",
            **settings,
        )
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        return self

    def base_backup_of(self, primary: Cluster) -> Cluster:
        """A streaming replica of ``primary`` (standby.signal and primary_conninfo written)."""
        as_postgres(
            f"{BIN}/pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", str(self.data), "-R", "-X", "stream", "--no-sync", "--checkpoint=fast"),
        )
        conninfo = f"host=127.0.0.1 port={primary.port} user=postgres"
        self.configure(primary_conninfo=f"'{conninfo} application_name={self.data.name}'")
        return self

    def configure(self, **settings: str) -> None:
        lines = [f"{key} = {value}" for key, value in settings.items()]
        lines += [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.root}'",
        ]
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")

    def start(self) -> None:
        as_postgres(
            f"{BIN}/pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        as_postgres(f"{BIN}/pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def kill9(self) -> None:
        """SIGKILL the postmaster and every backend: a crashed primary."""
        pid_file = self.data / "postmaster.pid"
        pid = int(pid_file.read_text().splitlines()[0])
        children = subprocess.run(
            ["pgrep", "-P", str(pid)], capture_output=True, text=True
        ).stdout.split()
        os.kill(pid, signal.SIGKILL)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(child), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def promote(self) -> None:
        as_postgres(f"{BIN}/pg_ctl", "-D", str(self.data), "-w", "promote")

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = as_postgres(
            f"{BIN}/psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-tAc",
            sql,
        )
        return result.stdout.strip()


@contextlib.contextmanager
def cluster_root(prefix: str = "wardbook-drill-") -> Iterator[Path]:
    root = owned_temp_dir(prefix)
    try:
        yield root
    finally:
        for pid_file in root.glob("*/postmaster.pid"):
            as_postgres(
                f"{BIN}/pg_ctl", "-D", str(pid_file.parent), "-m", "immediate", "stop", check=False
            )
        shutil.rmtree(root, ignore_errors=True)
