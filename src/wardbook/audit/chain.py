"""The tamper-evident hash chain over AuditEvents, and its verification.

Every AuditEvent gets one row in ``audit_chain`` (append-only: database triggers refuse
UPDATE and DELETE) with ``entry_hash = SHA-256(seq | event_id | recorded | body_hash |
prev_hash)``, where ``body_hash`` is the SHA-256 of the event's canonical JSON (keys
sorted, no whitespace) and ``prev_hash`` the previous row's ``entry_hash`` (64 zeros for
the first). Changing, removing or re-ordering any event or chain row breaks every later
link; :func:`verify_chain` recomputes them all and names the first broken entry.

Canonical JSON rather than the stored bytes: PostgreSQL's ``jsonb`` re-orders keys, so
the bytes read back differ from those written while the content is the same.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from wardbook.storage.base import Repository, as_bytes

GENESIS = "0" * 64
CHAIN_LOCK = "wardbook.audit_chain"
_PAGE = 1000


def canonical_hash(body: bytes) -> str:
    """SHA-256 of the JSON with sorted keys, independent of how the database stored it."""
    return canonical_hash_of(orjson.loads(body))


def canonical_hash_of(resource: Any) -> str:
    """:func:`canonical_hash` of the JSON ``resource`` serializes to (no parse needed)."""
    return hashlib.sha256(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)).hexdigest()


def entry_hash(seq: int, event_id: str, recorded: int, body_hash: str, prev_hash: str) -> str:
    """The chain link of one entry."""
    text = f"{seq}|{event_id}|{recorded}|{body_hash}|{prev_hash}"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of a verification: entries checked and the first broken one, if any."""

    checked: int
    broken_seq: int | None = None
    broken_event: str | None = None
    reason: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_seq is None


_VERIFY_SQL = (
    "SELECT c.seq, c.event_id, c.recorded, c.body_hash, c.prev_hash, c.entry_hash,"
    " v.body, e.version, e.deleted"
    " FROM audit_chain c"
    " LEFT JOIN resource_entity e ON e.res_type = 'AuditEvent' AND e.res_id = c.event_id"
    " LEFT JOIN resource_version v ON v.pid = e.pid AND v.version = 1"
    " WHERE c.seq > ? ORDER BY c.seq LIMIT ?"
)


def _check_row(row: tuple[Any, ...], expected_seq: int, prev: str) -> str | None:
    seq, event_id, recorded, body_hash, prev_hash, stored_hash, body, version, deleted = row
    if seq != expected_seq:
        return f"entry {expected_seq} is missing (next is {seq})"
    if prev_hash != prev:
        return "its link to the previous entry does not match"
    if entry_hash(seq, event_id, recorded, body_hash, prev_hash) != stored_hash:
        return "the chain row was altered"
    if body is None:
        return "the AuditEvent is missing"
    if version != 1 or deleted:
        return "the AuditEvent was updated or deleted"
    try:
        actual = canonical_hash(as_bytes(body))
    except orjson.JSONDecodeError:
        return "the AuditEvent is not valid JSON"
    if actual != body_hash:
        return "the AuditEvent was altered"
    return None


async def verify_chain(repository: Repository) -> ChainReport:
    """Walk the whole chain in order; stop at the first broken entry."""
    prev = GENESIS
    last_seq = 0
    checked = 0
    while True:
        rows = await repository.query(_VERIFY_SQL, (last_seq, _PAGE))
        if not rows:
            return ChainReport(checked)
        for row in rows:
            problem = _check_row(row, last_seq + 1, prev)
            if problem is not None:
                return ChainReport(checked, int(row[0]), str(row[1]), problem)
            checked += 1
            last_seq = int(row[0])
            prev = str(row[5])
