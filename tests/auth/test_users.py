"""Accounts: sign-in, lockout with back-off, TOTP with replay refusal, recovery codes."""

from __future__ import annotations

import time

import pyotp
import pytest

from wardbook.auth import mfa
from wardbook.auth.passwords import hash_password, password_problems, verify_password
from wardbook.auth.sessions import SessionStore
from wardbook.auth.users import LOCKOUT_THRESHOLD, SignInFailed, UserStore, WeakPassword
from wardbook.storage.base import Repository

pytestmark = pytest.mark.anyio
PASSWORD = "correct horse battery staple"


def test_password_rules_follow_nist() -> None:
    assert password_problems(PASSWORD) == []
    assert password_problems("Tr0ub4dor&3") != []  # 11 characters
    assert password_problems("qwertyuiop123") != []  # common core
    assert password_problems("ALLCAPSNODIGITSATALL") == []  # no composition rules
    assert password_problems("nina the nurse", username="nina") != []
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + "!")
    assert not verify_password(None, PASSWORD)


async def test_sign_in_and_lockout_with_back_off(repository: Repository) -> None:
    users = UserStore(repository)
    await users.add("Nina", ["nurse"], PASSWORD)
    user = await users.authenticate("NINA", PASSWORD)
    assert user.username == "nina" and user.mfa_required
    with pytest.raises(SignInFailed):
        await users.authenticate("nobody", PASSWORD)
    now = time.time_ns() // 1000
    for _ in range(LOCKOUT_THRESHOLD):
        with pytest.raises(SignInFailed):
            await users.authenticate("nina", "wrong password!!", now=now)
    locked = await users.require("nina")
    assert locked.locked_until - now == 60_000_000  # first lock: one minute
    with pytest.raises(SignInFailed):  # even the right password is refused while locked
        await users.authenticate("nina", PASSWORD, now=now + 1)
    with pytest.raises(SignInFailed):  # a failure after the lock doubles it
        await users.authenticate("nina", "wrong again!!!!", now=now + 61_000_000)
    relocked = await users.require("nina")
    assert relocked.locked_until - (now + 61_000_000) == 120_000_000
    later = now + 200_000_000
    assert (await users.authenticate("nina", PASSWORD, now=later)).failed_logins == 0


async def test_totp_refuses_replay_and_recovery_codes_are_single_use(
    repository: Repository,
) -> None:
    users = UserStore(repository)
    enrolment = await users.add("doc", ["physician"], PASSWORD)
    assert enrolment.otpauth_uri.startswith("otpauth://totp/Wardbook:doc?secret=")
    user = await users.require("doc")
    now = time.time()
    code = pyotp.TOTP(enrolment.totp_secret).at(now)
    assert await users.verify_second_factor(user, code, now=now)
    user = await users.require("doc")
    assert user.mfa_enrolled
    assert not await users.verify_second_factor(user, code, now=now)  # replay
    codes = await users.new_recovery_codes("doc")
    assert len(codes) == 10
    user = await users.require("doc")
    assert await users.verify_second_factor(user, codes[0].upper(), now=now)
    user = await users.require("doc")
    assert not await users.verify_second_factor(user, codes[0], now=now)
    assert len(user.recovery_codes) == 9
    assert "<svg" in mfa.qr_svg(enrolment.otpauth_uri)


async def test_admin_reset_and_disable_end_every_session(repository: Repository) -> None:
    users = UserStore(repository)
    sessions = SessionStore(repository, idle_minutes=15, absolute_minutes=720)
    await users.add("rita", ["receptionist"], PASSWORD)
    cookie1, _ = await sessions.create("rita", mfa_done=True, source_ip=None)
    cookie2, _ = await sessions.create("rita", mfa_done=True, source_ip=None)
    assert await sessions.load(cookie1) is not None
    await users.set_password("rita", "a brand new long passphrase", by_admin=True)
    assert await sessions.load(cookie1) is None and await sessions.load(cookie2) is None
    assert (await users.require("rita")).must_change_password
    with pytest.raises(WeakPassword):
        await users.set_password("rita", "password")
    cookie3, _ = await sessions.create("rita", mfa_done=True, source_ip=None)
    await users.set_disabled("rita", True)
    assert await sessions.load(cookie3) is None
    with pytest.raises(SignInFailed):
        await users.authenticate("rita", "a brand new long passphrase")


async def test_session_idle_and_absolute_timeouts(repository: Repository) -> None:
    users = UserStore(repository)
    await users.add("sam", ["auditor"], PASSWORD)
    sessions = SessionStore(repository, idle_minutes=15, absolute_minutes=60)
    t0 = 1_800_000_000_000_000
    minute = 60_000_000
    cookie, _ = await sessions.create("sam", mfa_done=True, source_ip=None, now=t0)
    assert await sessions.load(cookie, now=t0 + 14 * minute) is not None  # touches last_seen
    assert await sessions.load(cookie, now=t0 + 28 * minute) is not None
    assert await sessions.load(cookie, now=t0 + 61 * minute) is None  # absolute limit
    idle, _ = await sessions.create("sam", mfa_done=True, source_ip=None, now=t0)
    assert await sessions.load(idle, now=t0 + 16 * minute) is None  # idle limit
