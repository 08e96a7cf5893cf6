"""``wardbook user ...`` and ``wardbook audit verify`` (INTERFACES.md), kept out of cli.py.

``user add`` prints the TOTP enrolment URI (``otpauth://...``) on stdout, once; the
password is read from stdin with ``--password-stdin`` or prompted for on a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable
from typing import Any

from wardbook.config import ConfigError

Command = Callable[[str, str], argparse.ArgumentParser]


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise ConfigError("--password-stdin: no password on standard input")
        return line.rstrip("\r\n")
    if args.no_password:
        return None
    if not sys.stdin.isatty():
        raise ConfigError("no terminal to prompt for the password: use --password-stdin")
    first = getpass.getpass("Password (at least 12 characters): ")
    if getpass.getpass("Repeat the password: ") != first:
        raise ConfigError("the two passwords differ")
    return first


def _run(args: argparse.Namespace, work: Callable[[Any], Any]) -> Any:
    from wardbook.cli import _settings, _with_repository

    return asyncio.run(_with_repository(_settings(args), work))


def cmd_user_add(args: argparse.Namespace) -> int:
    from wardbook.auth.users import UserStore

    password = _read_password(args)

    async def work(repository: Any) -> Any:
        wards = list(args.ward)
        if "all" in wards:  # the demo account: every Location counts as its ward
            wards = [w for w in wards if w != "all"] + await _all_locations(repository)
        return await UserStore(repository).add(
            args.username,
            args.role,
            password,
            fhir_user=args.fhir_user,
            wards=wards,
        )

    enrolment = _run(args, work)
    print(enrolment.otpauth_uri)
    print(
        f"User {enrolment.user.username} added ({', '.join(sorted(enrolment.user.roles))});"
        " scan the otpauth URI above into an authenticator app",
        file=sys.stderr,
    )
    return 0


async def _all_locations(repository: Any) -> list[str]:
    from wardbook.search.parse import parse_search

    page = await repository.search(parse_search("Location", [("_count", "1000")], strict=True))
    return [entry.id for entry in page.entries]


def cmd_user_list(args: argparse.Namespace) -> int:
    from wardbook.auth.users import UserStore

    async def work(repository: Any) -> Any:
        return await UserStore(repository).all()

    for user in _run(args, work):
        status = "disabled" if user.disabled else "active"
        mfa = "mfa" if user.mfa_enrolled else "mfa-pending"
        print(f"{user.username}\t{' '.join(sorted(user.roles))}\t{status}\t{mfa}")
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    from wardbook.auth.users import UserStore

    async def work(repository: Any) -> None:
        await UserStore(repository).set_disabled(args.username, True)

    _run(args, work)
    print(f"User {args.username} disabled and signed out everywhere")
    return 0


def cmd_user_enable(args: argparse.Namespace) -> int:
    from wardbook.auth.users import UserStore

    async def work(repository: Any) -> None:
        await UserStore(repository).set_disabled(args.username, False)

    _run(args, work)
    print(f"User {args.username} enabled")
    return 0


def cmd_user_unlock(args: argparse.Namespace) -> int:
    from wardbook.auth.users import UserStore

    async def work(repository: Any) -> bool:
        return await UserStore(repository).unlock(args.username)

    was_locked = _run(args, work)
    state = "unlocked" if was_locked else "was not locked; failed sign-ins reset"
    print(f"User {args.username} {state}")
    return 0


def cmd_user_set_roles(args: argparse.Namespace) -> int:
    from wardbook.auth.users import UserStore

    async def work(repository: Any) -> Any:
        return await UserStore(repository).set_roles(args.username, list(args.role))

    user = _run(args, work)
    print(f"User {user.username} now has role(s) {', '.join(sorted(user.roles))}; signed out")
    return 0


def cmd_user_reset_mfa(args: argparse.Namespace) -> int:
    from wardbook.auth.users import UserStore

    async def work(repository: Any) -> Any:
        return await UserStore(repository).reset_mfa(args.username)

    enrolment = _run(args, work)
    print(enrolment.otpauth_uri)
    return 0


def cmd_user_reset_password(args: argparse.Namespace) -> int:
    from wardbook.auth.users import UserStore

    password = _read_password(args)
    if password is None:
        raise ConfigError("a password reset needs a password")

    async def work(repository: Any) -> None:
        await UserStore(repository).set_password(args.username, password, by_admin=True)

    _run(args, work)
    print(f"Password of {args.username} reset; every session ended")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from wardbook.audit.chain import verify_chain

    report = _run(args, verify_chain)
    if report.intact:
        print(f"Audit chain intact: {report.checked} entries verified")
        return 0
    print(
        f"wardbook audit verify: entry {report.broken_seq} (AuditEvent/{report.broken_event})"
        f" is broken: {report.reason}; {report.checked} entries before it are intact",
        file=sys.stderr,
    )
    return 3


def register(sub: Any, command: Command) -> None:
    """Add the ``user`` and ``audit`` command groups to the top-level parser."""
    user = command(
        "user", "manage user accounts (add, list, disable, enable, unlock, set-roles, reset-mfa)"
    )
    users = user.add_subparsers(dest="user_command", required=True)

    def sub_command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = users.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--database", help="database URL")
        return p

    add = sub_command("add", "add a user; prints the TOTP enrolment URI")
    add.add_argument("username")
    add.add_argument("--role", action="append", required=True, help="role (repeatable)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--no-password", action="store_true", help="no password yet")
    add.add_argument("--fhir-user", help="the user's Practitioner, e.g. Practitioner/123")
    add.add_argument(
        "--ward",
        action="append",
        default=[],
        help="assigned ward Location id ('all': every Location)",
    )
    add.set_defaults(func=cmd_user_add)
    sub_command("list", "list users").set_defaults(func=cmd_user_list)
    disable = sub_command("disable", "disable a user and end their sessions")
    disable.add_argument("username")
    disable.set_defaults(func=cmd_user_disable)
    enable = sub_command("enable", "re-enable a disabled user")
    enable.add_argument("username")
    enable.set_defaults(func=cmd_user_enable)
    unlock = sub_command("unlock", "end a sign-in lockout (too many wrong passwords or codes)")
    unlock.add_argument("username")
    unlock.set_defaults(func=cmd_user_unlock)
    roles = sub_command("set-roles", "replace a user's roles; ends their sessions")
    roles.add_argument("username")
    roles.add_argument("--role", action="append", required=True, help="role (repeatable)")
    roles.set_defaults(func=cmd_user_set_roles)
    reset = sub_command("reset-mfa", "new TOTP secret; prints the enrolment URI")
    reset.add_argument("username")
    reset.set_defaults(func=cmd_user_reset_mfa)
    password = sub_command("reset-password", "set a new password (admin reset)")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true")
    password.set_defaults(func=cmd_user_reset_password, no_password=False)

    audit = command("audit", "the audit trail")
    audits = audit.add_subparsers(dest="audit_command", required=True)
    verify = audits.add_parser("verify", help="check the AuditEvent hash chain")
    verify.add_argument("--database", help="database URL")
    verify.set_defaults(func=cmd_audit_verify)
