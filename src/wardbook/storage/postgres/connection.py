"""PostgreSQL connections: the jsonb codec, ``?`` placeholders, keys and error mapping."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import asyncpg
from asyncpg import exceptions as pg

from wardbook.errors import BadRequest
from wardbook.storage.base import Dialect, StorageError, VersionConflict

if TYPE_CHECKING:
    from typing import TypeAlias

    from asyncpg.pool import PoolConnectionProxy

    # A connection of our own or one lent by the pool: the code uses both alike.
    Connection: TypeAlias = asyncpg.Connection[Any] | PoolConnectionProxy[Any]

# What a database that is down, restarting, failing over or overloaded raises: 503, retry.
_TRANSIENT: tuple[type[BaseException], ...] = (
    pg.PostgresConnectionError,  # class 08, incl. a connection lost mid-query
    pg.OperatorInterventionError,  # class 57: statement timeout, admin shutdown, starting up
    pg.InsufficientResourcesError,  # class 53: too many connections, disk full, out of memory
    pg.PostgresSystemError,  # class 58: I/O error
    pg.ReadOnlySQLTransactionError,  # a write reached a standby during failover
    pg.UndefinedTableError,  # the schema is not migrated (readiness reports it too)
    pg.InvalidCatalogNameError,  # the database does not exist
    pg.InvalidAuthorizationSpecificationError,  # login rejected
    pg.InternalClientError,  # protocol state broken, e.g. by a server-side disconnect
    OSError,  # connection refused / reset
    TimeoutError,  # command_timeout or pool acquire timeout
)

# After these a connection is unusable: it is closed instead of going back to the pool.
BROKEN_CONNECTION: tuple[type[BaseException], ...] = (
    pg.PostgresConnectionError,
    pg.AdminShutdownError,
    pg.CrashShutdownError,
    pg.InternalClientError,
    pg.InterfaceError,
    OSError,
)


@contextmanager
def pg_errors() -> Iterator[None]:
    """Map driver failures: unique keys -> VersionConflict (409), outages -> StorageError (503)."""
    try:
        yield
    except pg.UniqueViolationError as exc:
        raise VersionConflict(f"concurrent write: {exc.detail or exc}") from exc
    except pg.TransactionRollbackError as exc:
        # Deadlock or serialization failure between writers: the transaction is retried.
        raise VersionConflict(f"concurrent write: {type(exc).__name__}: {exc}") from exc
    except (pg.UntranslatableCharacterError, pg.CharacterNotInRepertoireError) as exc:
        # PostgreSQL text and jsonb cannot hold U+0000; FHIR strings may not contain it
        # either (R4 datatypes.html#string), so this is the client's data, not an outage.
        raise BadRequest(
            "Text with a NUL character (U+0000) can be neither stored nor searched;"
            " FHIR strings may not contain it"
        ) from exc
    except _TRANSIENT as exc:
        raise StorageError(f"PostgreSQL: {type(exc).__name__}: {exc}") from exc
    except pg.InterfaceError as exc:
        if "closed" not in str(exc):
            raise
        raise StorageError(f"PostgreSQL: {exc}") from exc


def _encode_jsonb(value: bytes | str) -> bytes:
    # Binary jsonb is a version byte (1) followed by the JSON text.
    return b"\x01" + (value if isinstance(value, bytes) else value.encode())


def _decode_jsonb(data: bytes) -> bytes:
    return data[1:]


async def init_connection(conn: asyncpg.Connection[Any]) -> None:
    """Per-connection setup: jsonb goes in and out as raw UTF-8 JSON bytes, never parsed."""
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=_encode_jsonb,
        decoder=_decode_jsonb,
        format="binary",
    )


async def keep_session(conn: asyncpg.Connection[Any]) -> None:
    """Pool reset hook: nothing to undo, so no reset query (see repository.py)."""


@functools.lru_cache(maxsize=2048)
def to_dollar_params(sql: str) -> str:
    """Number ``?`` placeholders as ``$1..$n`` (generated SQL never has a literal ``?``)."""
    parts = sql.split("?")
    out = [parts[0]]
    for number, part in enumerate(parts[1:], start=1):
        out.append(f"${number}")
        out.append(part)
    return "".join(out)


def advisory_key(key: str) -> int:
    """A signed 64-bit advisory-lock key; 64 bits make collisions practically impossible."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresRunner:
    """SqlRunner over one asyncpg connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return Dialect.POSTGRES

    async def fetch_all(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with pg_errors():
            records = await self._conn.fetch(to_dollar_params(sql), *params)
        return [tuple(record) for record in records]
