"""Choose and build the storage backend from a database URL.

``sqlite:///relative/path.db`` (optionally ``?synchronous=full`` for power-loss durability),
``sqlite:////absolute/path.db``, ``sqlite:///:memory:`` and
``postgresql://user@host:port/db`` (also ``postgres://``). PostgreSQL URLs may carry pool
options as query parameters -- ``pool_min_size``, ``pool_max_size``, ``command_timeout``,
``read_connections`` (dedicated connections for reads, besides the pool; 0 turns them off)
-- which are taken out before the rest goes to asyncpg; keyword arguments override them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from wardbook.errors import WardbookError
from wardbook.storage.base import Repository

_SQLITE_PREFIX = "sqlite:///"
_PG_SCHEMES = ("postgresql", "postgres")


class UnsupportedDatabaseUrl(WardbookError, ValueError):
    """The database URL names no backend we have (a configuration error)."""


def open_repository(
    url: str,
    *,
    pool_min_size: int | None = None,
    pool_max_size: int | None = None,
    command_timeout: float | None = None,
    search_timeout_ms: int | None = None,
    replica_urls: Sequence[str] = (),
    max_replica_lag_seconds: float = 5.0,
) -> Repository:
    """The repository for ``url``, not yet opened: ``await repository.open()`` next.

    With ``replica_urls`` (PostgreSQL only) reads and searches go to those streaming
    replicas when they are caught up (see wardbook.storage.replicated).
    """
    repository = _open(url, pool_min_size, pool_max_size, command_timeout)
    repository.search_timeout_ms = search_timeout_ms
    if not replica_urls:
        return repository
    from wardbook.storage.postgres import PostgresRepository
    from wardbook.storage.replicated import ReplicatedRepository

    if not isinstance(repository, PostgresRepository):
        raise UnsupportedDatabaseUrl("read replicas need a PostgreSQL primary")
    replicas = []
    for replica_url in replica_urls:
        replica = _open(replica_url, pool_min_size, pool_max_size, command_timeout)
        if not isinstance(replica, PostgresRepository):
            raise UnsupportedDatabaseUrl(f"replica {_redact(replica_url)!r} is not PostgreSQL")
        replica.search_timeout_ms = search_timeout_ms
        replicas.append((_redact(replica_url), replica))
    wrapped = ReplicatedRepository(repository, replicas, max_lag_seconds=max_replica_lag_seconds)
    return cast(Repository, wrapped)


def _open(
    url: str,
    pool_min_size: int | None,
    pool_max_size: int | None,
    command_timeout: float | None,
) -> Repository:
    if url.startswith(_SQLITE_PREFIX):
        from wardbook.storage.sqlite import SqliteRepository

        path, _, options = url[len(_SQLITE_PREFIX) :].partition("?")
        if not path:
            raise UnsupportedDatabaseUrl(f"SQLite URL without a path: {url!r}")
        settings = dict(parse_qsl(options, keep_blank_values=True))
        synchronous = settings.pop("synchronous", "normal").upper()
        if settings or synchronous not in ("NORMAL", "FULL"):
            raise UnsupportedDatabaseUrl(
                f"SQLite URL options: only synchronous=normal|full is known, not {options!r}"
            )
        return SqliteRepository(path, synchronous=synchronous)
    parts = urlsplit(url)
    if parts.scheme in _PG_SCHEMES:
        from wardbook.storage.postgres import PostgresRepository

        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            min_size = pool_min_size or int(query.pop("pool_min_size", 2))
            max_size = pool_max_size or int(query.pop("pool_max_size", 10))
            timeout = command_timeout or float(query.pop("command_timeout", 30.0))
            readers = int(query.pop("read_connections", 6))
            # 0 for pgbouncer in transaction mode (no named prepared statements there)
            cache = int(query.pop("statement_cache_size", 512))
        except ValueError as exc:
            raise UnsupportedDatabaseUrl(f"bad pool option in {_redact(url)!r}: {exc}") from exc
        dsn = urlunsplit(parts._replace(scheme="postgresql", query=urlencode(query)))
        return PostgresRepository(
            dsn,
            min_size=min_size,
            max_size=max_size,
            command_timeout=timeout,
            read_connections=readers,
            statement_cache_size=cache,
        )
    raise UnsupportedDatabaseUrl(
        f"unsupported database URL {_redact(url)!r}: use sqlite:///path or postgresql://..."
    )


def _redact(url: str) -> str:
    """The URL without its password (error messages end up in logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))
