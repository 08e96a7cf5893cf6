"""Who is acting: the Principal of the current request, job or command.

The HTTP middleware (API and web app) authenticates the caller and binds a Principal for
the duration of the request with :func:`acting_as`; CLI commands and background jobs bind
one explicitly. The service layer reads it with :func:`current_principal` to authorize and
to write audit, so route handlers never pass it around and no route can skip the check.

With no binding at all (unit tests of pure code, ``serve --no-auth`` on loopback) the
principal is :data:`LOCAL_DEVELOPER`, which may do everything and is still audited.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal

PrincipalKind = Literal["user", "client", "system", "local"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated actor and what it was granted.

    ``scopes`` are SMART scope strings as granted (v1 or v2 syntax); ``roles`` are role
    names (physician, nurse, receptionist, auditor, admin). ``patient``/``encounter`` are the
    launch context ids, if any. ``break_glass_patients`` lists the patients this principal
    opened by break-the-glass, still within their time limit; ``wards`` the Location ids of
    the wards a user is assigned to (a care relationship, see wardbook.auth.care).
    """

    kind: PrincipalKind
    subject: str  # user name, client id, or "local"
    roles: frozenset[str] = frozenset()
    scopes: tuple[str, ...] = ()
    client_id: str | None = None
    fhir_user: str | None = None  # e.g. "Practitioner/123"
    patient: str | None = None
    encounter: str | None = None
    session_id: str | None = None
    source_ip: str | None = None
    break_glass_patients: frozenset[str] = field(default_factory=frozenset)
    wards: frozenset[str] = field(default_factory=frozenset)  # assigned Location ids

    @property
    def unrestricted(self) -> bool:
        """True for the local developer and the admin-issued system principal."""
        return self.kind == "local"


LOCAL_DEVELOPER = Principal(kind="local", subject="local", roles=frozenset({"admin"}))

_current: ContextVar[Principal] = ContextVar("wardbook_principal", default=LOCAL_DEVELOPER)


def current_principal() -> Principal:
    """The principal bound for this request or job (the local developer if none)."""
    return _current.get()


@contextlib.contextmanager
def acting_as(principal: Principal) -> Iterator[Principal]:
    """Bind ``principal`` for the enclosed code (a request, a job, a CLI command)."""
    token = _current.set(principal)
    try:
        yield principal
    finally:
        _current.reset(token)
