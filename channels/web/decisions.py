"""Deciding on a draft as a web user: the one path the REST API and the dashboard share.

Both act as `web:<login>` through core.approval (the state machine Slack and the CLI use),
with the approval policy widened by the user's role exactly as `accounts.policy_for` says,
and both ask for the decision to be shown on the draft's Slack message. Keeping this in one
place is what guarantees a button in the browser cannot be more permissive than the API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from core import accounts
from core.approval import ApprovalPolicy, Decided, Identity, Outcome, approve, reject
from core.model import Draft, User
from core.ports import Clock, UnitOfWork


class Deciding(Protocol):
    """What deciding needs of the composition root (bot.bootstrap.Services has it)."""

    @property
    def new_uow(self) -> Callable[[], UnitOfWork]: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def approval(self) -> ApprovalPolicy: ...
    @property
    def identity(self) -> Identity: ...

    def show_decision(self, draft: Draft) -> None: ...


def approve_as(
    services: Deciding,
    user: User,
    *,
    draft_id: int,
    version: int,
    edited_text: str | None = None,
) -> Decided:
    """Approve the version the user reviewed (with their edits, if any): the reply is queued.
    Raises NotAuthorised (audited by the core) when the user may not decide."""
    decided = approve(
        services.new_uow(),
        draft_id=draft_id,
        version=version,
        actor=user.actor,
        policy=accounts.policy_for(user, services.approval),
        clock=services.clock,
        identity=services.identity,
        edited_text=edited_text,
    )
    if decided.outcome is Outcome.APPLIED:
        services.show_decision(decided.draft)
    return decided


def reject_as(
    services: Deciding, user: User, *, draft_id: int, version: int, reason: str
) -> Decided:
    """Reject the version the user reviewed, keeping the reason; nothing is sent."""
    decided = reject(
        services.new_uow(),
        draft_id=draft_id,
        version=version,
        actor=user.actor,
        reason=reason,
        policy=accounts.policy_for(user, services.approval),
        clock=services.clock,
    )
    if decided.outcome is Outcome.APPLIED:
        services.show_decision(decided.draft)
    return decided
