"""Who may decide on drafts from Slack: the configured `slack:U…` approvers plus the members
of the approver user group, looked up with usergroups.users.list and cached for a few minutes
(group changes show up within the TTL; a click does not cost an API call each time)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from core.approval import ApprovalPolicy

log = logging.getLogger(__name__)

GROUP_TTL_SECONDS = 300.0


class Approvers:
    def __init__(
        self,
        client: WebClient,
        *,
        base: ApprovalPolicy,
        group: str = "",
        ttl: float = GROUP_TTL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._base = base
        self._group = group
        self._ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._members: frozenset[str] = frozenset()
        self._fetched_at: float | None = None

    def policy(self) -> ApprovalPolicy:
        """The policy core's approve/reject check: configured approvers ∪ the group."""
        if not self._group:
            return self._base
        members = frozenset(f"slack:{user}" for user in self._group_members())
        return ApprovalPolicy(approvers=self._base.approvers | members)

    def may_decide(self, user_id: str) -> bool:
        return self.policy().may_decide(f"slack:{user_id}")

    def _group_members(self) -> frozenset[str]:
        with self._lock:
            now = self._monotonic()
            if self._fetched_at is not None and now - self._fetched_at < self._ttl:
                return self._members
            try:
                response = self._client.usergroups_users_list(usergroup=self._group)
            except SlackApiError as exc:
                # Keep the last known members (if any) rather than locking everyone out.
                log.warning("usergroups.users.list failed: %s", exc.response.get("error"))
                return self._members
            users: list[str] = response.get("users") or []
            self._members = frozenset(str(u) for u in users)
            self._fetched_at = now
            return self._members
