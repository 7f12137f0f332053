"""Web accounts: users with roles, and API tokens of which only a hash is kept.

Password hashing is the caller's (an adapter picks argon2); here a user arrives with its hash.
A token is 32 random bytes shown once; the database keeps its SHA-256, so a leaked table
gives no usable token. SHA-256 without salt suffices for a random 256-bit secret: there is
no dictionary to attack, and one indexed lookup finds the token. Every change is audited
with who made it.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from core.approval import ApprovalPolicy
from core.errors import InvalidInput, NotFound
from core.model import ApiToken, AuditEvent, Role, User
from core.ports import Clock, UnitOfWork

TOKEN_PREFIX = "sbt_"
_LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is coarse: no write on every request


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_login(login: str) -> str:
    if not _LOGIN.match(login):
        raise InvalidInput(
            f"login {login!r}: lower-case letters, digits, '.', '_' or '-', at most 63"
        )
    return login


def add_user(
    uow: UnitOfWork, *, login: str, password_hash: str, role: Role, actor: str, clock: Clock
) -> User:
    check_login(login)
    now = clock.now()
    with uow:
        if uow.users.get_by_login(login) is not None:
            raise InvalidInput(f"login {login!r} is taken")
        user = uow.users.add(User(login, password_hash, role, created_at=now))
        _audit(uow, "user.added", actor, now, {"login": login, "role": role.value})
        uow.commit()
    return user


def issue_token(uow: UnitOfWork, *, login: str, name: str, actor: str, clock: Clock) -> IssuedToken:
    if not name.strip():
        raise InvalidInput("a token needs a name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    with uow:
        user = _user(uow, login)
        assert user.id is not None
        token = uow.tokens.add(ApiToken(user.id, name.strip(), hash_token(secret), now))
        _audit(uow, "token.issued", actor, now, {"login": login, "token_id": token.id})
        uow.commit()
    return IssuedToken(token, secret)


def revoke_token(uow: UnitOfWork, *, token_id: int, actor: str, clock: Clock) -> bool:
    now = clock.now()
    with uow:
        revoked = uow.tokens.revoke(token_id)
        if revoked:
            _audit(uow, "token.revoked", actor, now, {"token_id": token_id})
        uow.commit()
    return revoked


def authenticate(uow: UnitOfWork, secret: str, *, clock: Clock) -> User | None:
    """The enabled user owning this live token, or None (unknown, revoked or disabled)."""
    with uow:
        return identify(uow, secret, clock=clock)


def identify(uow: UnitOfWork, secret: str, *, clock: Clock) -> User | None:
    """`authenticate` in a unit of work the caller has open, so that a request can go on
    reading on the connection that checked its token (one checkout, not two). The token
    is a SHA-256 lookup, never a password hash; its last use is committed at most once a
    minute."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    found = uow.tokens.get_with_owner(hash_token(secret))
    if found is None:
        return None
    token, user = found
    if token.revoked or token.id is None or user.disabled:
        return None
    now = clock.now()
    if token.last_used_at is None or now - token.last_used_at >= _TOUCH_EVERY:
        uow.tokens.touch(token.id, at=now)
        uow.commit()
    return user


def may_decide(user: User, policy: ApprovalPolicy) -> bool:
    """Managers and admins decide on drafts and change tickets; an agent does when its
    `web:<login>` is among `approval.approvers`, exactly as a Slack user must be."""
    return user.role in (Role.MANAGER, Role.ADMIN) or policy.may_decide(user.actor)


def policy_for(user: User, policy: ApprovalPolicy) -> ApprovalPolicy:
    """The approval policy core functions check, widened by this user's role."""
    if may_decide(user, policy):
        return replace(policy, approvers=policy.approvers | {user.actor})
    return policy


def set_disabled(uow: UnitOfWork, *, login: str, disabled: bool, actor: str, clock: Clock) -> User:
    now = clock.now()
    with uow:
        user = replace(_user(uow, login), disabled=disabled)
        uow.users.save(user)
        _audit(uow, "user.disabled" if disabled else "user.enabled", actor, now, {"login": login})
        uow.commit()
    return user


def _user(uow: UnitOfWork, login: str) -> User:
    user = uow.users.get_by_login(login)
    if user is None:
        raise NotFound(f"no user {login!r}")
    return user


def _audit(
    uow: UnitOfWork, action: str, actor: str, at: datetime, detail: dict[str, object]
) -> None:
    uow.audit.add(AuditEvent(actor=actor, action=action, at=at, detail=json.dumps(detail)))
