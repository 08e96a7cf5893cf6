"""Web sessions: server-side rows keyed by a hash of a random cookie value.

The cookie holds 256 random bits; the table stores only their SHA-256, so a copy of the
database cannot be replayed as cookies. A session ends after ``idle`` minutes without a
request (default 15) or ``absolute`` minutes after sign-in (default 12 h), whichever comes
first (ASVS 5.0 V7.3). After the password a session is *pending* (``mfa_done`` false) and
only the MFA pages accept it; passing MFA issues a brand-new session id (no fixation).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from wardbook.storage.base import Repository

# last_seen is written at most this often: an idle timeout of minutes needs no write per page.
_TOUCH_EVERY_US = 30_000_000


def _now() -> int:
    return time.time_ns() // 1000


def session_hash(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    """One signed-in (or half signed-in) browser."""

    session_hash: str
    username: str
    created_at: int
    last_seen: int
    mfa_done: bool
    csrf_token: str
    source_ip: str | None


class SessionStore:
    """The ``auth_session`` table with the idle and absolute timeouts."""

    def __init__(self, repository: Repository, *, idle_minutes: int, absolute_minutes: int):
        self.repository = repository
        self.idle_us = idle_minutes * 60_000_000
        self.absolute_us = absolute_minutes * 60_000_000

    async def create(
        self, username: str, *, mfa_done: bool, source_ip: str | None, now: int | None = None
    ) -> tuple[str, Session]:
        """A new session; returns the cookie value (shown once) and the row."""
        cookie = secrets.token_urlsafe(32)
        moment = _now() if now is None else now
        session = Session(
            session_hash=session_hash(cookie),
            username=username,
            created_at=moment,
            last_seen=moment,
            mfa_done=mfa_done,
            csrf_token=secrets.token_urlsafe(32),
            source_ip=source_ip,
        )
        await self.repository.execute(
            "INSERT INTO auth_session (session_hash, username, created_at, last_seen, mfa_done,"
            " csrf_token, source_ip) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                session.session_hash,
                username,
                moment,
                moment,
                mfa_done,
                session.csrf_token,
                source_ip,
            ),
        )
        return cookie, session

    async def load(self, cookie: str, *, now: int | None = None) -> Session | None:
        """The live session for a cookie; expired ones are deleted and give None."""
        moment = _now() if now is None else now
        digest = session_hash(cookie)
        rows = await self.repository.query(
            "SELECT session_hash, username, created_at, last_seen, mfa_done, csrf_token,"
            " source_ip FROM auth_session WHERE session_hash = ?",
            (digest,),
        )
        if not rows:
            return None
        row = rows[0]
        session = Session(
            str(row[0]), str(row[1]), int(row[2]), int(row[3]), bool(row[4]), str(row[5]), row[6]
        )
        if (
            moment - session.last_seen > self.idle_us
            or moment - session.created_at > self.absolute_us
        ):
            await self.end(cookie)
            return None
        if moment - session.last_seen > _TOUCH_EVERY_US:
            await self.repository.execute(
                "UPDATE auth_session SET last_seen = ? WHERE session_hash = ?", (moment, digest)
            )
        return session

    async def end(self, cookie: str) -> None:
        """Sign this browser out."""
        await self.repository.execute(
            "DELETE FROM auth_session WHERE session_hash = ?", (session_hash(cookie),)
        )

    async def end_all(self, username: str) -> None:
        """Sign the user out everywhere."""
        await self.repository.execute("DELETE FROM auth_session WHERE username = ?", (username,))
