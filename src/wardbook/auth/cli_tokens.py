"""``wardbook token``: an access token issued by an administrator, for operations and tests.

The token is signed with the server's current key exactly like one from the token
endpoint, so the FHIR API treats both alike. The client must be registered (removing it
stops further tokens; a token already printed lives until ``--expires-in`` runs out or it
is revoked at ``/oauth2/revoke``).
"""

from __future__ import annotations

from dataclasses import replace

from wardbook.auth.discovery import origin_of
from wardbook.auth.scopes import NON_RESOURCE_SCOPES, ScopeError, parse_resource_scope, split_scope
from wardbook.auth.smart import SmartAuth
from wardbook.auth.tokens import Grant
from wardbook.auth.users import UserStore
from wardbook.config import ConfigError, Settings
from wardbook.storage.base import Repository

MAX_EXPIRES_IN = 30 * 86400
LOCAL_AUDIENCE = "urn:wardbook:fhir"


async def issue_admin_token(
    repository: Repository,
    settings: Settings,
    *,
    client_id: str,
    scope: str,
    patient: str | None,
    user: str | None,
    expires_in: int,
) -> str:
    """A signed access token; ConfigError for an unknown client or a malformed scope."""
    if not 1 <= expires_in <= MAX_EXPIRES_IN:
        raise ConfigError(f"--expires-in must be between 1 and {MAX_EXPIRES_IN} seconds")
    scopes = split_scope(scope)
    if not scopes:
        raise ConfigError("--scope needs at least one scope")
    for text in scopes:
        if text in NON_RESOURCE_SCOPES:
            continue
        try:
            parse_resource_scope(text)
        except ScopeError as error:
            raise ConfigError(str(error)) from error
    if patient is None and any(s.startswith("patient/") for s in scopes):
        raise ConfigError("patient/ scopes need --patient ID")
    auth = SmartAuth(repository, settings)
    if await auth.store.get_client(client_id) is None:
        raise ConfigError(f"no client with id '{client_id}': register it with 'client add'")
    if patient is not None:
        found = await repository.read("Patient", patient)
        if found is None or found.deleted:
            raise ConfigError(f"Patient/{patient} does not exist")
    grant = Grant(kind="client", subject=client_id, client_id=client_id, scopes=tuple(scopes))
    if user is not None:
        account = await UserStore(repository).get(user)
        if account is None:
            raise ConfigError(f"no user '{user}': add one with 'wardbook user add'")
        if account.disabled:
            raise ConfigError(f"user '{user}' is disabled")
        grant = Grant(
            kind="user",
            subject=account.username,
            client_id=client_id,
            scopes=tuple(scopes),
            fhir_user=account.fhir_user,
            roles=tuple(sorted(account.roles)),
            extra={"wards": sorted(account.wards)} if account.wards else {},
        )
    grant = replace(grant, patient=patient)
    audience = settings.base_url or LOCAL_AUDIENCE
    issued = await auth.tokens.access_token(
        grant, issuer=origin_of(audience), audience=audience, lifetime=expires_in
    )
    return issued.token
