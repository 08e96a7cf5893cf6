"""Full backups and restores of a Wardbook database (``wardbook backup`` / ``restore``).

A backup holds everything: every version of every resource, deleted markers, the index
tables, audit entries and the schema. It is taken while the server runs and is
consistent as of one instant:

* **SQLite**: the online backup API (``sqlite3.Connection.backup``) copies the pages under
  one read transaction, so concurrent writers neither block nor tear it. The backup is
  itself a SQLite database file.
* **PostgreSQL**: ``pg_dump --format=custom`` run on a snapshot exported from a
  ``REPEATABLE READ`` transaction in which Wardbook also counts the rows, so the manifest
  describes exactly what the dump holds. Point-in-time recovery uses pgBackRest with WAL
  archiving instead (see docs/operations/backup.md).

Beside ``FILE`` a manifest ``FILE.manifest.json`` records the row count of every table and
a SHA-256 over every resource version. ``restore`` refuses a non-empty target, restores,
and then checks the target against the manifest, so a restore that completes is exact;
``backup --verify`` restores into a scratch database and checks the same way: a temporary
SQLite file; on PostgreSQL either a database it creates and drops (the role needs
``CREATEDB``) or, when ``WARDBOOK_BACKUP_VERIFY_DATABASE`` names one, a dedicated scratch
database owned by the role, which is emptied before and after each test restore (see
:func:`verify_backup`), so the nightly job needs no privilege beyond its own databases.
"""

from __future__ import annotations

import asyncio
import glob
import hashlib
import os
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from wardbook.errors import WardbookError

_SQLITE_PREFIX = "sqlite:///"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_PGDUMP_MAGIC = b"PGDMP"
# Pool options of Wardbook's PostgreSQL URLs that libpq tools do not understand.
_POOL_OPTIONS = {
    "pool_min_size",
    "pool_max_size",
    "command_timeout",
    "read_connections",
    "statement_cache_size",
}
_VERSIONS_SQL = (
    "SELECT vid, pid, version, deleted, last_updated, method, {body} "
    "FROM resource_version ORDER BY vid"
)


class BackupError(WardbookError):
    """A backup or restore could not be done; the message says why."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a backup holds: row counts per table and a digest of every resource version."""

    format: str  # "sqlite" | "pg_dump"
    created_at: int  # epoch microseconds of the snapshot
    tables: dict[str, int]
    versions_sha256: str

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        raw = orjson.loads(data)
        return cls(
            raw["format"], int(raw["created_at"]), dict(raw["tables"]), raw["versions_sha256"]
        )

    def differences(self, other: Manifest) -> list[str]:
        """What ``other`` (a restored database) lacks or has more of than this backup."""
        problems = []
        for table in sorted(set(self.tables) | set(other.tables)):
            want, got = self.tables.get(table), other.tables.get(table)
            if want != got:
                problems.append(f"table {table}: {got} row(s), the backup has {want}")
        if self.versions_sha256 != other.versions_sha256:
            problems.append("resource versions differ from the backup's (digest mismatch)")
        return problems


def manifest_path(backup: Path) -> Path:
    return backup.with_name(backup.name + ".manifest.json")


def _now() -> int:
    return time.time_ns() // 1000


# --- SQLite -------------------------------------------------------------------------------


def sqlite_path(url: str) -> str:
    path = url[len(_SQLITE_PREFIX) :].partition("?")[0]
    if not path or path == ":memory:":
        raise BackupError(f"cannot back up or restore {url!r}: not a database file")
    return path


def _sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    ).fetchall()
    return [str(row[0]) for row in rows]


def _feed(digest: Any, row: tuple[Any, ...]) -> None:
    *head, body = row
    digest.update("|".join(str(int(v) if isinstance(v, bool) else v) for v in head).encode())
    digest.update(b"|")
    digest.update(b"-" if body is None else str(body).encode())
    digest.update(b"\n")


def _digest(rows: Iterable[tuple[Any, ...]]) -> str:
    digest = hashlib.sha256()
    for row in rows:
        _feed(digest, row)
    return digest.hexdigest()


def _sqlite_manifest(conn: sqlite3.Connection, created_at: int) -> Manifest:
    tables = {
        # table names from the catalog:
        name: int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])  # nosec B608
        for name in _sqlite_tables(conn)
    }
    if "resource_version" not in tables:
        raise BackupError("the database has no Wardbook schema (run `wardbook migrate`)")
    cursor = conn.execute(_VERSIONS_SQL.format(body="body"))
    return Manifest("sqlite", created_at, tables, _digest(cursor))


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def _backup_sqlite(url: str, output: Path) -> Manifest:
    source_path = sqlite_path(url)
    if not os.path.exists(source_path):
        raise BackupError(f"no database at {source_path}")
    tmp = output.with_name(output.name + ".partial")
    tmp.unlink(missing_ok=True)
    source = _connect(source_path)
    try:
        target = sqlite3.connect(tmp)
        try:
            created_at = _now()
            source.backup(target)  # all pages in one step: one consistent read snapshot
            target.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
            manifest = _sqlite_manifest(target, created_at)
        finally:
            target.close()
    finally:
        source.close()
    os.replace(tmp, output)
    return manifest


def _restore_sqlite(input_path: Path, url: str) -> Manifest:
    target_path = sqlite_path(url)
    if os.path.exists(target_path) and os.path.getsize(target_path) > 0:
        probe = _connect(target_path)
        try:
            if _sqlite_tables(probe):
                raise BackupError(
                    f"{target_path} is not empty: restore only into a new, empty database"
                )
        finally:
            probe.close()
    source = sqlite3.connect(f"file:{input_path}?mode=ro", uri=True)
    try:
        target = _connect(target_path)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode = WAL")
            return _sqlite_manifest(target, _now())
        finally:
            target.close()
    finally:
        source.close()


def _record_sqlite(url: str, manifest_format: str, size: int, verified: bool) -> None:
    conn = _connect(sqlite_path(url))
    try:
        with conn:
            conn.execute(
                "INSERT INTO ops_backup_log (finished_at, format, bytes, verified) "
                "VALUES (?, ?, ?, ?)",
                (_now(), manifest_format, size, int(verified)),
            )
    finally:
        conn.close()


# --- PostgreSQL ---------------------------------------------------------------------------


def libpq_url(url: str) -> str:
    """``url`` as libpq tools and asyncpg take it: Wardbook's pool options removed."""
    parts = urlsplit(url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in _POOL_OPTIONS
    ]
    return urlunsplit(parts._replace(scheme="postgresql", query=urlencode(query)))


def pg_tool(name: str) -> str:
    """Path of a PostgreSQL client program: on PATH, else the newest Debian install."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    if not candidates:
        raise BackupError(f"{name} not found: install the PostgreSQL client (postgresql-client-15)")
    return candidates[-1]


async def _run(*argv: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        message = err.decode(errors="replace").strip().splitlines()
        raise BackupError(
            f"{Path(argv[0]).name} failed: {message[-1] if message else process.returncode}"
        )


async def _pg_manifest(conn: Any, created_at: int, manifest_format: str = "pg_dump") -> Manifest:
    names = [
        str(r[0])
        for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
    ]
    if "resource_version" not in names:
        raise BackupError("the database has no Wardbook schema (run `wardbook migrate`)")
    # table names from the catalog:
    tables = {name: int(await conn.fetchval(f'SELECT count(*) FROM "{name}"')) for name in names}  # nosec B608

    digest = hashlib.sha256()
    async for record in conn.cursor(_VERSIONS_SQL.format(body="body::text"), prefetch=2000):
        _feed(digest, tuple(record))
    return Manifest(manifest_format, created_at, tables, digest.hexdigest())


async def _backup_pg(url: str, output: Path) -> Manifest:
    import asyncpg

    dsn = libpq_url(url)
    tmp = output.with_name(output.name + ".partial")
    tmp.unlink(missing_ok=True)
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            created_at = _now()
            dump = asyncio.create_task(
                _run(
                    pg_tool("pg_dump"),
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot}",
                    f"--file={tmp}",
                    f"--dbname={dsn}",
                )
            )
            try:
                manifest = await _pg_manifest(conn, created_at)
            finally:
                await dump  # the snapshot must outlive pg_dump's use of it
    finally:
        await conn.close()
    os.replace(tmp, output)
    return manifest


async def _restore_pg(input_path: Path, url: str) -> Manifest:
    import asyncpg

    dsn = libpq_url(url)
    conn = await asyncpg.connect(dsn)
    try:
        count = await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        if count:
            raise BackupError("the target database is not empty: restore only into a new one")
    finally:
        await conn.close()
    await _run(
        pg_tool("pg_restore"),
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        f"--dbname={dsn}",
        str(input_path),
    )
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return await _pg_manifest(conn, _now())
    finally:
        await conn.close()


async def _record_pg(url: str, size: int, verified: bool) -> None:
    import asyncpg

    conn = await asyncpg.connect(libpq_url(url))
    try:
        await conn.execute(
            "INSERT INTO ops_backup_log (finished_at, format, bytes, verified) "
            "VALUES ($1, 'pg_dump', $2, $3)",
            _now(),
            size,
            verified,
        )
    finally:
        await conn.close()


async def _scratch_pg(url: str) -> tuple[str, str]:
    """A new empty database on the same server as ``url``: (its URL, its name)."""
    import asyncpg

    name = f"wardbook_verify_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(libpq_url(url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.InsufficientPrivilegeError as exc:
        raise BackupError(
            "--verify needs a scratch database: the database role may not create one"
            " (no CREATEDB); set WARDBOOK_BACKUP_VERIFY_DATABASE to a database the role owns"
            " (docs/operations/backup.md)"
        ) from exc
    finally:
        await conn.close()
    parts = urlsplit(libpq_url(url))
    return urlunsplit(parts._replace(path=f"/{name}")), name


async def _drop_pg(url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(libpq_url(url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# The schema that marks a database as Wardbook's verification scratch: only a database that
# carries it (or is empty) is ever emptied, so a mistyped setting cannot wipe real data.
_SCRATCH_MARK = "wardbook_verify_scratch"


def scratch_url(url: str, database: str) -> str:
    """The scratch database's URL: ``database`` itself, or a name on ``url``'s server."""
    if "://" in database:
        if not is_postgres(database):
            raise BackupError("WARDBOOK_BACKUP_VERIFY_DATABASE must be a PostgreSQL URL or name")
        return database
    if not database.strip() or "/" in database or "?" in database:
        raise BackupError(f"WARDBOOK_BACKUP_VERIFY_DATABASE={database!r} is not a database name")
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database.strip()}"))


async def _identity(conn: Any) -> tuple[Any, ...]:
    """What tells two connections they reach the same database of the same server."""
    row = await conn.fetchrow(
        "SELECT current_database(), pg_postmaster_start_time(),"
        " (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    return tuple(row)


async def _empty_scratch_pg(url: str, scratch: str, *, claim: bool) -> None:
    """Empty the dedicated scratch database (its ``public`` schema dropped and re-made).

    With ``claim`` (before a restore) it first refuses the source database itself and a
    database that holds tables without carrying the scratch mark, then marks it.
    """
    import asyncpg

    conn = await asyncpg.connect(libpq_url(scratch))
    try:
        if claim:
            source = await asyncpg.connect(libpq_url(url))
            try:
                same = await _identity(source) == await _identity(conn)
            finally:
                await source.close()
            if same:
                raise BackupError(
                    "WARDBOOK_BACKUP_VERIFY_DATABASE names the database being backed up:"
                    " give a separate, empty scratch database"
                )
            marked = await conn.fetchval(
                "SELECT count(*) FROM pg_namespace WHERE nspname = $1", _SCRATCH_MARK
            )
            tables = await conn.fetchval(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            )
            if tables and not marked:
                raise BackupError(
                    "WARDBOOK_BACKUP_VERIFY_DATABASE names a database that holds tables and"
                    " is not a verification scratch database: give an empty one of its own"
                )
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{_SCRATCH_MARK}"')
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    except asyncpg.InsufficientPrivilegeError as exc:
        raise BackupError(
            "cannot empty the scratch database WARDBOOK_BACKUP_VERIFY_DATABASE: the database"
            f" role must own it and its public schema ({exc})"
        ) from exc
    finally:
        await conn.close()


# --- the commands --------------------------------------------------------------------------


def is_postgres(url: str) -> bool:
    return urlsplit(url).scheme in ("postgresql", "postgres")


def backup_format(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(16)
    if head.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(_PGDUMP_MAGIC):
        return "pg_dump"
    raise BackupError(f"{path} is not a Wardbook backup (neither SQLite nor pg_dump format)")


async def backup(
    url: str, output: Path, *, verify: bool = False, verify_database: str | None = None
) -> Manifest:
    """Back up the database at ``url`` to ``output`` (and its manifest); record success.

    ``verify`` restores the backup into a scratch database first (:func:`verify_backup`;
    ``verify_database`` names a dedicated one on PostgreSQL).
    """
    if output.is_dir():  # noqa: ASYNC240 -- CLI command, no event loop to block
        raise BackupError(f"{output} is a folder: give a file name")
    if is_postgres(url):
        manifest = await _backup_pg(url, output)
    elif url.startswith(_SQLITE_PREFIX):
        manifest = await asyncio.to_thread(_backup_sqlite, url, output)
    else:
        raise BackupError(f"cannot back up {url!r}: unknown database kind")
    manifest_path(output).write_bytes(manifest.to_json())
    if verify:
        await verify_backup(output, url, scratch_database=verify_database)
    size = output.stat().st_size  # noqa: ASYNC240
    if is_postgres(url):
        await _record_pg(url, size, verify)
    else:
        await asyncio.to_thread(_record_sqlite, url, manifest.format, size, verify)
    return manifest


async def restore(input_path: Path, url: str) -> Manifest:
    """Restore ``input_path`` into the new, empty database at ``url``; check the manifest."""
    if not input_path.is_file():  # noqa: ASYNC240
        raise BackupError(f"{input_path}: no such backup file")
    kind = backup_format(input_path)
    if kind == "pg_dump":
        if not is_postgres(url):
            raise BackupError("a PostgreSQL backup restores only into a PostgreSQL database")
        restored = await _restore_pg(input_path, url)
    else:
        if is_postgres(url) or not url.startswith(_SQLITE_PREFIX):
            raise BackupError("a SQLite backup restores only into a SQLite database")
        restored = await asyncio.to_thread(_restore_sqlite, input_path, url)
    expected_path = manifest_path(input_path)
    if expected_path.exists():
        expected = Manifest.from_json(expected_path.read_bytes())
        problems = expected.differences(restored)
        if problems:
            raise BackupError("restored database differs from the backup: " + "; ".join(problems))
    return restored


async def verify_backup(
    input_path: Path, url: str, *, scratch_database: str | None = None
) -> Manifest:
    """Restore ``input_path`` into a scratch database (beside ``url``'s) and check it.

    PostgreSQL: without ``scratch_database`` a temporary database is created and dropped
    (``CREATEDB``); with it (a name on ``url``'s server or a URL) that database, owned by
    the role, is emptied, restored into, checked, and emptied again. SQLite always uses a
    temporary file, so ``scratch_database`` does not apply to it.
    """
    if backup_format(input_path) == "pg_dump" and scratch_database:
        scratch = scratch_url(url, scratch_database)
        await _empty_scratch_pg(url, scratch, claim=True)
        try:
            return await restore(input_path, scratch)
        finally:
            await _empty_scratch_pg(url, scratch, claim=False)
    if backup_format(input_path) == "pg_dump":
        scratch, name = await _scratch_pg(url)
        try:
            return await restore(input_path, scratch)
        finally:
            await _drop_pg(url, name)
    folder = tempfile.mkdtemp(prefix="wardbook-verify-")
    try:
        return await restore(input_path, f"{_SQLITE_PREFIX}{folder}/verify.db")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
