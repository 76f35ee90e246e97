"""Console accounts on both engines: create, log in, sessions, lock-out after failures from
one client, password reset ends sessions, disable; every change audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from hub.console.roles import ConsoleRole
from hub.console.users import LoginError, UserStore
from hub.store import Store

FAST = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8 * 1024, parallelism=1),))
COMPANIES = {"lakeside": "acme-pm"}


@pytest.fixture
async def users(tmp_path: Path, db_url):
    store = await Store.open(tmp_path, db_url)
    yield await UserStore.open(store, COMPANIES, hasher=FAST)
    await store.close()


async def test_login_session_logout(users: UserStore) -> None:
    await users.set_user("wang", "correct horse 1", ConsoleRole.GUARD, "lakeside", actor="admin")
    session = await users.login("wang", "correct horse 1", client="10.0.0.5")
    assert list(session.user.sites) == ["lakeside"]
    found = await users.session(session.token)
    assert found is not None and found.user.username == "wang"
    assert found.csrf_token == session.csrf_token
    await users.logout(session)
    assert await users.session(session.token) is None
    actions = [a["action"] for a in await users.store.audit_log(target="console/user/wang")]
    assert actions == ["console.user.set", "console.login", "console.logout"]


async def test_failures_from_one_client_lock_that_pair_and_a_login_resets(
    users: UserStore,
) -> None:
    await users.set_user("li", "correct horse 2", ConsoleRole.MANAGER, "acme-pm", actor="admin")
    for _ in range(5):
        with pytest.raises(LoginError):
            await users.login("li", "wrong password", client="10.0.0.9")
    with pytest.raises(LoginError) as locked:
        await users.login("li", "correct horse 2", client="10.0.0.9")
    assert locked.value.locked_until is not None
    # another client is not locked out by the first one's guesses
    session = await users.login("li", "correct horse 2", client="10.0.0.10")
    assert (await users.session(session.token)) is not None


async def test_password_reset_and_disable_end_sessions(users: UserStore) -> None:
    await users.set_user("zhao", "correct horse 3", ConsoleRole.REGULATOR, actor="admin")
    first = await users.login("zhao", "correct horse 3")
    await users.set_user("zhao", "another horse 4", ConsoleRole.REGULATOR, actor="admin")
    assert await users.session(first.token) is None  # a new password ends the sessions
    with pytest.raises(LoginError):
        await users.login("zhao", "correct horse 3")
    second = await users.login("zhao", "another horse 4")
    assert await users.disable("zhao", actor="admin") is True
    assert await users.disable("zhao", actor="admin") is False  # already
    assert await users.session(second.token) is None
    with pytest.raises(LoginError):
        await users.login("zhao", "another horse 4")
    [row] = await users.users()
    assert (row["username"], row["role"], row["disabled"]) == ("zhao", "regulator", 1)
