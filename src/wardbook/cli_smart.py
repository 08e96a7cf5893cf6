"""``wardbook client ...`` and ``wardbook token`` (INTERFACES.md), kept out of cli.py.

``client add`` registers a SMART client and prints its id (and, for a confidential client,
its secret, once); ``token`` prints one signed access token for operations and tests.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wardbook.config import ConfigError, Settings

Command = Callable[[str, str], argparse.ArgumentParser]


def _settings(args: argparse.Namespace) -> Settings:
    from wardbook.cli import _settings as settings_of

    return settings_of(args)


def _run(settings: Settings, work: Callable[[Any], Any]) -> Any:
    from wardbook.cli import _with_repository

    return asyncio.run(_with_repository(settings, work))


def cmd_client_add(args: argparse.Namespace) -> int:
    import json

    from wardbook.auth.clients import register_client
    from wardbook.storage.oauth_store import OAuthStore

    settings = _settings(args)
    jwks = None
    if args.jwks is not None:
        try:
            jwks = json.loads(Path(args.jwks).read_text("utf-8"))
        except ValueError as exc:
            raise ConfigError(f"{args.jwks}: not a JSON file ({exc})") from exc

    async def work(repository: Any) -> Any:
        return await register_client(
            OAuthStore(repository),
            client_id=args.client_id,
            client_type=args.type,
            redirect_uris=list(args.redirect_uri or []),
            scope=args.scope,
            jwks=jwks,
            jwks_uri=args.jwks_uri,
            name=args.name,
        )

    new = _run(settings, work)
    print(f"client_id: {new.record.client_id}")
    if new.secret is not None:
        print(f"client_secret: {new.secret}")
        print("Store the secret now: it is not shown again.", file=sys.stderr)
    return 0


def cmd_client_list(args: argparse.Namespace) -> int:
    from wardbook.storage.oauth_store import OAuthStore

    settings = _settings(args)

    async def work(repository: Any) -> Any:
        return await OAuthStore(repository).list_clients()

    for client in _run(settings, work):
        where = " ".join(client.redirect_uris) or client.jwks_uri or "(inline JWKS)"
        print(f"{client.client_id}\t{client.client_type}\t{client.scope}\t{where}")
    return 0


def cmd_client_remove(args: argparse.Namespace) -> int:
    from wardbook.auth.clients import revoke_client
    from wardbook.storage.oauth_store import OAuthStore

    settings = _settings(args)

    async def work(repository: Any) -> bool:
        return await revoke_client(OAuthStore(repository), args.client_id)

    if not _run(settings, work):
        raise ConfigError(f"no client with id '{args.client_id}'")
    print(f"Removed client {args.client_id}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from wardbook.auth.cli_tokens import issue_admin_token

    settings = _settings(args)

    async def work(repository: Any) -> str:
        return await issue_admin_token(
            repository,
            settings,
            client_id=args.client_id,
            scope=args.scope,
            patient=args.patient,
            user=args.user,
            expires_in=args.expires_in,
        )

    print(_run(settings, work))
    return 0


def register(sub: Any, command: Command) -> None:
    """Add the ``client`` command group and ``token`` to the top-level parser."""
    client = sub.add_parser("client", help="register and manage SMART clients")
    client_sub = client.add_subparsers(dest="client_command", required=True)

    def client_command(name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = client_sub.add_parser(
            name, help=help_text, description=help_text
        )
        p.add_argument("--database", help="database URL (default: $WARDBOOK_DATABASE_URL)")
        return p

    add = client_command("add", "register a SMART client (prints its id, and secret if any)")
    add.add_argument("--client-id", required=True)
    add.add_argument("--type", required=True, choices=["public", "confidential", "backend"])
    add.add_argument("--redirect-uri", action="append", help="repeat for several")
    add.add_argument("--scope", help="the scopes the client may be granted (space-separated)")
    add.add_argument("--name", help="the app's name, shown to users on the consent page")
    keys = add.add_mutually_exclusive_group()
    keys.add_argument("--jwks", help="file with the backend client's public JWK Set")
    keys.add_argument("--jwks-uri", help="URL of the backend client's public JWK Set")
    add.set_defaults(func=cmd_client_add)
    client_command("list", "list registered clients").set_defaults(func=cmd_client_list)
    remove = client_command("remove", "remove a client and its refresh tokens")
    remove.add_argument("client_id", metavar="ID")
    remove.set_defaults(func=cmd_client_remove)

    token = command("token", "print one signed access token (JWT) for operations and tests")
    token.add_argument("--client-id", required=True)
    token.add_argument("--scope", required=True)
    token.add_argument("--patient", help="patient id for patient/ scopes")
    token.add_argument("--user", help="the user the token acts for")
    token.add_argument("--expires-in", type=int, default=3600, help="seconds (default 3600)")
    token.set_defaults(func=cmd_token)
