"""User accounts: creation, sign-in with lockout and back-off, second factor, admin actions.

Accounts live in the ``auth_user`` table (migration 0006). User names are case-insensitive
(stored lower case). Sign-in failures count per account: after ``LOCKOUT_THRESHOLD``
failures in a row the account is locked for 1 minute, and each further failure doubles the
lock (2, 4, ... up to 1 hour), which caps online guessing (800-63B 3.2.2) while an attacker
cannot lock an account for good. The answer never says whether the user name exists.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from wardbook.auth import mfa
from wardbook.auth.passwords import hash_password, needs_rehash, password_problems, verify_password
from wardbook.auth.principal import Principal
from wardbook.auth.roles import known_role, mfa_required
from wardbook.errors import BadRequest, Conflict, NotFound, WardbookError
from wardbook.storage.base import Repository, VersionConflict

LOCKOUT_THRESHOLD = 5
_BASE_LOCK_US = 60_000_000
_MAX_LOCK_US = 3_600_000_000
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")
_FHIR_USER = re.compile(
    r"^(Practitioner|PractitionerRole|Patient|RelatedPerson|Person)/[A-Za-z0-9\-.]{1,64}$"
)
_COLUMNS = (
    "username, roles, password_hash, totp_secret, mfa_enrolled, recovery_codes, fhir_user,"
    " wards, disabled, failed_logins, locked_until, last_totp_step, must_change_password,"
    " created_at, password_changed_at"
)


class WeakPassword(BadRequest):
    """The password breaks the rules; ``problems`` says how."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class SignInFailed(WardbookError):
    """Wrong user name or password, or the account is locked or disabled (one message)."""

    status = 401
    issue_code = "login"


def now_micros() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class User:
    """One account row."""

    username: str
    roles: frozenset[str]
    password_hash: str | None
    totp_secret: str | None
    mfa_enrolled: bool
    recovery_codes: tuple[str, ...]
    fhir_user: str | None
    wards: frozenset[str]
    disabled: bool
    failed_logins: int
    locked_until: int
    last_totp_step: int
    must_change_password: bool
    created_at: int
    password_changed_at: int

    @property
    def mfa_required(self) -> bool:
        return mfa_required(self.roles)

    def principal(
        self,
        *,
        session_id: str | None = None,
        source_ip: str | None = None,
        break_glass_patients: frozenset[str] = frozenset(),
    ) -> Principal:
        """The Principal this user acts as (the web app and user-launched SMART apps)."""
        return Principal(
            kind="user",
            subject=self.username,
            roles=self.roles,
            fhir_user=self.fhir_user,
            session_id=session_id,
            source_ip=source_ip,
            break_glass_patients=break_glass_patients,
            wards=self.wards,
        )


def _user(row: tuple[Any, ...]) -> User:
    return User(
        username=str(row[0]),
        roles=frozenset(str(row[1]).split()),
        password_hash=row[2],
        totp_secret=row[3],
        mfa_enrolled=bool(row[4]),
        recovery_codes=tuple(json.loads(row[5])),
        fhir_user=row[6],
        wards=frozenset(str(row[7]).split()),
        disabled=bool(row[8]),
        failed_logins=int(row[9]),
        locked_until=int(row[10]),
        last_totp_step=int(row[11]),
        must_change_password=bool(row[12]),
        created_at=int(row[13]),
        password_changed_at=int(row[14]),
    )


def normalize_username(username: str) -> str:
    return username.strip().lower()


def check_username(username: str) -> str:
    name = normalize_username(username)
    if not _USERNAME.match(name):
        raise BadRequest(
            "A user name is 2-64 characters: letters, digits and . _ @ - (starting with a"
            " letter or digit)"
        )
    return name


def check_roles(roles: list[str]) -> frozenset[str]:
    if not roles:
        raise BadRequest("A user needs at least one role")
    unknown = [r for r in roles if not known_role(r)]
    if unknown:
        raise BadRequest(
            f"Unknown role {', '.join(unknown)}: use physician, nurse, receptionist, auditor"
            " or admin"
        )
    return frozenset(roles)


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What a new account (or an MFA reset) hands to its owner once."""

    user: User
    totp_secret: str
    otpauth_uri: str


class UserStore:
    """Accounts on a repository's ``auth_user`` table."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository

    async def get(self, username: str) -> User | None:
        rows = await self.repository.query(
            f"SELECT {_COLUMNS} FROM auth_user WHERE username = ?",  # constant column list  # nosec B608
            (normalize_username(username),),
        )
        return _user(rows[0]) if rows else None

    async def require(self, username: str) -> User:
        user = await self.get(username)
        if user is None:
            raise NotFound(f"No user named {normalize_username(username)!r}")
        return user

    async def all(self) -> list[User]:
        rows = await self.repository.query(
            f"SELECT {_COLUMNS} FROM auth_user ORDER BY username",  # constant column list  # nosec B608
            (),
        )
        return [_user(row) for row in rows]

    async def add(
        self,
        username: str,
        roles: list[str],
        password: str | None,
        *,
        fhir_user: str | None = None,
        wards: list[str] | None = None,
    ) -> Enrolment:
        """Create an account with a fresh TOTP secret; the password must pass the rules."""
        name = check_username(username)
        role_set = check_roles(roles)
        if fhir_user is not None and not _FHIR_USER.match(fhir_user):
            raise BadRequest(f"--fhir-user must look like Practitioner/123, not {fhir_user!r}")
        password_hash = None
        if password is not None:
            problems = password_problems(password, username=name)
            if problems:
                raise WeakPassword(problems)
            password_hash = hash_password(password)
        secret = mfa.new_secret()
        now = now_micros()
        try:
            await self.repository.execute(
                "INSERT INTO auth_user (username, roles, password_hash, totp_secret, fhir_user,"
                " wards, created_at, password_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    " ".join(sorted(role_set)),
                    password_hash,
                    secret,
                    fhir_user,
                    " ".join(sorted(wards or [])),
                    now,
                    now,
                ),
            )
        except VersionConflict as exc:
            raise Conflict(f"A user named {name!r} already exists") from exc
        user = await self.require(name)
        return Enrolment(user, secret, mfa.provisioning_uri(secret, name))

    async def set_disabled(self, username: str, disabled: bool) -> None:
        """Disable (or re-enable) an account; a disabled account's sessions end at once."""
        user = await self.require(username)
        await self.repository.execute(
            "UPDATE auth_user SET disabled = ? WHERE username = ?", (disabled, user.username)
        )
        if disabled:
            await self.end_sessions(user.username)

    async def unlock(self, username: str) -> bool:
        """Clear a sign-in lockout and its failure count; True when the account was locked."""
        user = await self.require(username)
        await self.repository.execute(
            "UPDATE auth_user SET failed_logins = 0, locked_until = 0 WHERE username = ?",
            (user.username,),
        )
        return user.locked_until > now_micros()

    async def set_roles(self, username: str, roles: list[str]) -> User:
        """Replace the user's roles; their sessions end so the next sign-in carries the new ones."""
        user = await self.require(username)
        role_set = check_roles(roles)
        await self.repository.execute(
            "UPDATE auth_user SET roles = ? WHERE username = ?",
            (" ".join(sorted(role_set)), user.username),
        )
        await self.end_sessions(user.username)
        return await self.require(user.username)

    async def reset_mfa(self, username: str) -> Enrolment:
        """A new TOTP secret, not yet confirmed; recovery codes and sessions are dropped."""
        user = await self.require(username)
        secret = mfa.new_secret()
        await self.repository.execute(
            "UPDATE auth_user SET totp_secret = ?, mfa_enrolled = ?, recovery_codes = '[]',"
            " last_totp_step = 0 WHERE username = ?",
            (secret, False, user.username),
        )
        await self.end_sessions(user.username)
        return Enrolment(
            await self.require(user.username), secret, mfa.provisioning_uri(secret, user.username)
        )

    async def set_password(self, username: str, password: str, *, by_admin: bool = False) -> None:
        """Change the password (rules apply); an admin reset forces a change at next sign-in.

        Every session of the user ends (800-63B: a reset invalidates existing sessions).
        """
        user = await self.require(username)
        problems = password_problems(password, username=user.username)
        if problems:
            raise WeakPassword(problems)
        await self.repository.execute(
            "UPDATE auth_user SET password_hash = ?, password_changed_at = ?,"
            " must_change_password = ?, failed_logins = 0, locked_until = 0 WHERE username = ?",
            (hash_password(password), now_micros(), by_admin, user.username),
        )
        await self.end_sessions(user.username)

    async def check_current_password(
        self, user: User, password: str, *, now: int | None = None
    ) -> bool:
        """True when ``password`` is the signed-in user's own; a miss counts toward lockout.

        A stolen session must not become a free password-guessing oracle (ASVS 5.0 V6.2.3),
        so a wrong current password counts like a failed sign-in, and a locked account's
        current password is refused until the lock ends.
        """
        moment = now_micros() if now is None else now
        fresh = await self.get(user.username)
        if fresh is None or fresh.disabled or fresh.locked_until > moment:
            verify_password(None, password)  # same cost as a real check
            return False
        if verify_password(fresh.password_hash, password):
            return True
        await self.record_failure(fresh, now=moment)
        return False

    async def end_sessions(self, username: str) -> int:
        """Sign the user out everywhere; returns how many sessions ended."""
        rows = await self.repository.execute(
            "DELETE FROM auth_session WHERE username = ? RETURNING session_hash",
            (normalize_username(username),),
        )
        return len(rows)

    # -- sign-in ---------------------------------------------------------------------------

    async def authenticate(self, username: str, password: str, *, now: int | None = None) -> User:
        """The user when the password is right and the account usable; else SignInFailed."""
        moment = now_micros() if now is None else now
        user = await self.get(username) if _USERNAME.match(normalize_username(username)) else None
        if user is None:
            verify_password(None, password)  # same cost as a real check
            raise SignInFailed("Enter a correct user name and password")
        if user.locked_until > moment:
            verify_password(None, password)
            raise SignInFailed("Enter a correct user name and password")
        if user.disabled or not verify_password(user.password_hash, password):
            await self.record_failure(user, now=moment)
            raise SignInFailed("Enter a correct user name and password")
        await self.repository.execute(
            "UPDATE auth_user SET failed_logins = 0, locked_until = 0 WHERE username = ?",
            (user.username,),
        )
        if user.password_hash is not None and needs_rehash(user.password_hash):
            await self.repository.execute(
                "UPDATE auth_user SET password_hash = ? WHERE username = ?",
                (hash_password(password), user.username),
            )
        return await self.require(user.username)

    async def record_failure(self, user: User, *, now: int | None = None) -> None:
        """Count a failed password or code; lock with exponential back-off past the limit."""
        moment = now_micros() if now is None else now
        failures = user.failed_logins + 1
        locked_until = user.locked_until
        if failures >= LOCKOUT_THRESHOLD:
            lock = min(_BASE_LOCK_US * 2 ** (failures - LOCKOUT_THRESHOLD), _MAX_LOCK_US)
            locked_until = moment + lock
        await self.repository.execute(
            "UPDATE auth_user SET failed_logins = ?, locked_until = ? WHERE username = ?",
            (failures, locked_until, user.username),
        )

    async def verify_second_factor(
        self, user: User, code: str, *, now: float | None = None
    ) -> bool:
        """Check a TOTP code (or a recovery code, used up); failures count toward lockout."""
        moment = time.time() if now is None else now
        if user.totp_secret is None or user.locked_until > int(moment * 1_000_000):
            return False
        step = mfa.verify_totp(user.totp_secret, code, last_step=user.last_totp_step, now=moment)
        if step is not None:
            await self.repository.execute(
                "UPDATE auth_user SET last_totp_step = ?, mfa_enrolled = ?, failed_logins = 0,"
                " locked_until = 0 WHERE username = ?",
                (step, True, user.username),
            )
            return True
        used = mfa.match_recovery_code(list(user.recovery_codes), code)
        if used is not None and user.mfa_enrolled:
            remaining = [d for d in user.recovery_codes if d != used]
            await self.repository.execute(
                "UPDATE auth_user SET recovery_codes = ?, failed_logins = 0, locked_until = 0"
                " WHERE username = ?",
                (json.dumps(remaining), user.username),
            )
            return True
        await self.record_failure(user, now=int(moment * 1_000_000))
        return False

    async def new_recovery_codes(self, username: str) -> list[str]:
        """Issue ten fresh recovery codes (replacing any old ones); shown to the user once."""
        codes = mfa.new_recovery_codes()
        await self.repository.execute(
            "UPDATE auth_user SET recovery_codes = ? WHERE username = ?",
            (json.dumps([mfa.recovery_digest(c) for c in codes]), normalize_username(username)),
        )
        return codes
