"""Users and API tokens on both backends: unique logins, lookup by token hash, revocation."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.exc import IntegrityError

from core.model import ApiToken, Role, User
from core.ports import UnitOfWork
from tests.integration.storage.records import T0, at, id_of


def _user(login: str = "alice", role: Role = Role.AGENT) -> User:
    return User(login=login, password_hash="$argon2id$x", role=role, created_at=T0)


def test_users_round_trip_and_logins_are_unique(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        alice = uow.users.add(_user())
        bob = uow.users.add(_user("bob", Role.MANAGER))
        uow.commit()
    with uow_factory() as uow:
        assert uow.users.get(id_of(alice)) == alice
        assert uow.users.get_by_login("bob") == bob
        assert uow.users.get_by_login("carol") is None
        assert [u.login for u in uow.users.list()] == ["alice", "bob"]
        uow.users.save(User(**{**alice.__dict__, "disabled": True}))
        uow.commit()
    with uow_factory() as uow:
        stored = uow.users.get(id_of(alice))
        assert stored is not None and stored.disabled
    with uow_factory() as uow, pytest.raises(IntegrityError):
        uow.users.add(_user())


def test_tokens_by_hash_touch_and_revoke(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        user_id = id_of(uow.users.add(_user()))
        token = uow.tokens.add(ApiToken(user_id, "crm", "a" * 64, T0))
        uow.commit()
    token_id = id_of(token)
    with uow_factory() as uow:
        assert uow.tokens.get_by_hash("a" * 64) == token
        assert uow.tokens.get_by_hash("b" * 64) is None
        uow.tokens.touch(token_id, at=at(5))
        assert uow.tokens.revoke(token_id)
        assert not uow.tokens.revoke(token_id)  # already revoked
        uow.commit()
    with uow_factory() as uow:
        [stored] = uow.tokens.list_for_user(user_id)
        assert stored.revoked and stored.last_used_at == at(5)
