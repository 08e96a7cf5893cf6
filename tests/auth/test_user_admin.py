"""Administrator actions added for the admin guide: unlock, re-enable, change roles."""

from __future__ import annotations

import pytest

from wardbook.auth.sessions import SessionStore
from wardbook.auth.users import LOCKOUT_THRESHOLD, SignInFailed, UserStore
from wardbook.errors import BadRequest, NotFound
from wardbook.storage.base import Repository

pytestmark = pytest.mark.anyio
PASSWORD = "correct horse battery staple"


async def test_unlock_ends_a_lockout_at_once(repository: Repository) -> None:
    users = UserStore(repository)
    await users.add("nina", ["nurse"], PASSWORD)
    for _ in range(LOCKOUT_THRESHOLD):
        with pytest.raises(SignInFailed):
            await users.authenticate("nina", "not the password")
    with pytest.raises(SignInFailed):  # locked: even the right password is refused
        await users.authenticate("nina", PASSWORD)

    assert await users.unlock("nina") is True
    assert (await users.authenticate("nina", PASSWORD)).failed_logins == 0
    assert await users.unlock("nina") is False  # nothing to unlock now
    with pytest.raises(NotFound):
        await users.unlock("nobody")


async def test_a_disabled_account_signs_in_again_once_enabled(repository: Repository) -> None:
    users = UserStore(repository)
    await users.add("rita", ["receptionist"], PASSWORD)
    await users.set_disabled("rita", True)
    with pytest.raises(SignInFailed):
        await users.authenticate("rita", PASSWORD)
    await users.set_disabled("rita", False)
    assert (await users.authenticate("rita", PASSWORD)).username == "rita"


async def test_set_roles_replaces_them_and_ends_sessions(repository: Repository) -> None:
    users = UserStore(repository)
    sessions = SessionStore(repository, idle_minutes=15, absolute_minutes=720)
    await users.add("sam", ["nurse"], PASSWORD)
    cookie, _ = await sessions.create("sam", mfa_done=True, source_ip=None)

    user = await users.set_roles("sam", ["physician", "auditor"])
    assert user.roles == {"physician", "auditor"}
    assert await sessions.load(cookie) is None  # the next sign-in carries the new roles

    with pytest.raises(BadRequest, match="Unknown role matron"):
        await users.set_roles("sam", ["matron"])
    with pytest.raises(BadRequest, match="at least one role"):
        await users.set_roles("sam", [])
    assert (await users.require("sam")).roles == {"physician", "auditor"}
