"""Scheduled actions: idempotent enqueue, leases, completion by the lease holder only, and
exactly-once completion under concurrent claimers."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from core.model import ActionStatus
from core.ports import UnitOfWork
from tests.integration.storage import records
from tests.integration.storage.records import at, id_of


def test_add_if_absent_keeps_the_first(uow_factory: Callable[[], UnitOfWork]) -> None:
    first = records.action("escalate:T1:breach", ticket_id=1, payload='{"level": 1}')
    with uow_factory() as uow:
        assert uow.actions.add_if_absent(first)
        assert not uow.actions.add_if_absent(replace(first, kind="other", due_at=at(9)))
        uow.commit()
    with uow_factory() as uow:
        assert not uow.actions.add_if_absent(first)
        stored = uow.actions.get_by_key("escalate:T1:breach")
        assert stored == replace(first, id=stored.id if stored else None)
        assert uow.actions.get_by_key("escalate:T2:breach") is None


def test_claim_due_leases_due_pending_actions_in_due_order(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    with uow_factory() as uow:
        uow.actions.add_if_absent(records.action("b", due_at=at(2)))
        uow.actions.add_if_absent(records.action("a", due_at=at(1)))
        uow.actions.add_if_absent(records.action("c", due_at=at(3)))
        uow.actions.add_if_absent(records.action("future", due_at=at(60)))
        uow.actions.add_if_absent(records.action("done", due_at=at(0), status=ActionStatus.DONE))
        uow.commit()

        claimed = uow.actions.claim_due(now=at(10), owner="w1", lease_seconds=30, limit=2)
        uow.commit()
        assert [a.idem_key for a in claimed] == ["a", "b"]
        assert all(a.lease_owner == "w1" and a.lease_until == at(10.5) for a in claimed)
        assert all(a.attempts == 1 for a in claimed)
        assert uow.actions.get_by_key("a") == claimed[0]

        rest = uow.actions.claim_due(now=at(10), owner="w2", lease_seconds=30, limit=10)
        uow.commit()
        assert [a.idem_key for a in rest] == ["c"]
        assert uow.actions.claim_due(now=at(10), owner="w3", lease_seconds=30, limit=10) == []


def test_claim_due_takes_only_the_kinds_asked_for(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        uow.actions.add_if_absent(records.action("post", kind="slack.present", due_at=at(1)))
        uow.actions.add_if_absent(records.action("owed", kind="draft.owed", due_at=at(2)))
        uow.commit()
        claimed = uow.actions.claim_due(
            now=at(10), owner="w1", lease_seconds=30, limit=5, kinds={"draft.owed"}
        )
        uow.commit()
        assert [a.idem_key for a in claimed] == ["owed"]
        assert (
            uow.actions.claim_due(now=at(10), owner="w1", lease_seconds=30, limit=5, kinds=()) == []
        )
        post = uow.actions.get_by_key("post")
        assert post is not None and post.lease_owner is None


def test_finish_marks_done_unless_another_owners_lease_runs(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    leases = {"free": None, "held": ("w2", 10), "expired": ("w2", 1), "mine": ("w1", 10)}
    with uow_factory() as uow:
        for key, lease in leases.items():
            owner, until = lease if lease else (None, None)
            uow.actions.add_if_absent(
                records.action(
                    key,
                    due_at=at(60),  # not due: finishing does not wait for that
                    lease_owner=owner,
                    lease_until=at(until) if until is not None else None,
                )
            )
        uow.actions.add_if_absent(records.action("gone", status=ActionStatus.CANCELLED))
        uow.actions.add_if_absent(records.action("done", status=ActionStatus.DONE))
        uow.commit()
    with uow_factory() as uow:
        finished = {
            key: uow.actions.finish(key, owner="w1", now=at(5))
            for key in (*leases, "gone", "done", "absent")
        }
        uow.commit()
    assert finished == {
        "free": True,
        "held": False,
        "expired": True,
        "mine": True,
        "gone": False,
        "done": False,
        "absent": False,
    }
    with uow_factory() as uow:
        statuses = {key: uow.actions.get_by_key(key) for key in leases}
    assert {k: a.status for k, a in statuses.items() if a is not None} == {
        "free": ActionStatus.DONE,
        "held": ActionStatus.PENDING,
        "expired": ActionStatus.DONE,
        "mine": ActionStatus.DONE,
    }


def test_an_expired_lease_can_be_taken_over(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        uow.actions.add_if_absent(records.action("k"))
        (mine,) = uow.actions.claim_due(now=at(1), owner="w1", lease_seconds=60, limit=5)
        uow.commit()
        assert uow.actions.claim_due(now=at(1.5), owner="w2", lease_seconds=60, limit=5) == []

        (theirs,) = uow.actions.claim_due(now=at(2.5), owner="w2", lease_seconds=60, limit=5)
        uow.commit()
        assert (theirs.lease_owner, theirs.attempts) == ("w2", 2)
        assert not uow.actions.complete(id_of(mine), owner="w1")
        assert uow.actions.complete(id_of(theirs), owner="w2")
        uow.commit()
        done = uow.actions.get_by_key("k")
        assert done is not None and done.status is ActionStatus.DONE


def test_complete_only_by_the_holder_and_only_once(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        uow.actions.add_if_absent(records.action("k"))
        unclaimed = uow.actions.get_by_key("k")
        assert not uow.actions.complete(id_of(unclaimed), owner="w1")
        (claimed,) = uow.actions.claim_due(now=at(1), owner="w1", lease_seconds=60, limit=5)
        uow.commit()
        assert not uow.actions.complete(id_of(claimed), owner="w2")
        assert uow.actions.complete(id_of(claimed), owner="w1")
        uow.commit()
        assert not uow.actions.complete(id_of(claimed), owner="w1")
        assert not uow.actions.complete(999999, owner="w1")
        assert uow.actions.claim_due(now=at(100), owner="w1", lease_seconds=60, limit=5) == []


def test_concurrent_claimers_complete_every_action_exactly_once(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    total, workers = 200, 4
    with uow_factory() as uow:
        for n in range(total):
            uow.actions.add_if_absent(records.action(f"digest:U{n}:2026-11-23", due_at=at(n % 7)))
        uow.commit()
    now = at(60)
    start = threading.Barrier(workers)

    def work(owner: str) -> list[int]:
        completed: list[int] = []
        with uow_factory() as uow:
            start.wait(timeout=10)
            while claimed := uow.actions.claim_due(
                now=now, owner=owner, lease_seconds=300, limit=7
            ):
                uow.commit()
                for action in claimed:
                    if uow.actions.complete(id_of(action), owner=owner):
                        completed.append(id_of(action))
                uow.commit()
        return completed

    with ThreadPoolExecutor(max_workers=workers) as pool:
        per_worker = list(pool.map(work, [f"worker-{n}" for n in range(workers)]))

    counts = Counter(action_id for completed in per_worker for action_id in completed)
    assert len(counts) == total
    assert set(counts.values()) == {1}
    with uow_factory() as uow:
        for n in range(total):
            stored = uow.actions.get_by_key(f"digest:U{n}:2026-11-23")
            assert stored is not None
            assert (stored.status, stored.attempts) == (ActionStatus.DONE, 1)


def test_add_or_revive_brings_back_cancelled_rows_only(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    with uow_factory() as uow:
        assert uow.actions.add_or_revive(records.action("w", ticket_id=7, kind="sla.warn"))
        assert not uow.actions.add_or_revive(records.action("w", ticket_id=7, kind="sla.warn"))
        assert uow.actions.add_if_absent(records.action("d", status=ActionStatus.DONE))
        assert not uow.actions.add_or_revive(records.action("d"))
        assert uow.actions.cancel_for_ticket(7, kinds=["sla.warn"]) == 1
        uow.commit()
    with uow_factory() as uow:
        moved = records.action("w", ticket_id=7, kind="sla.warn", due_at=at(30), payload='{"a":1}')
        assert uow.actions.add_or_revive(moved)
        uow.commit()
        stored = uow.actions.get_by_key("w")
        assert stored is not None
        assert (stored.status, stored.due_at, stored.payload) == (
            ActionStatus.PENDING,
            at(30),
            '{"a":1}',
        )
        done = uow.actions.get_by_key("d")
        assert done is not None and done.status is ActionStatus.DONE


def test_cancel_for_ticket_filters_by_kind_key_and_status(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    with uow_factory() as uow:
        for key, kind, ticket in [
            ("sla-warn:T1:first_response:x", "sla.warn", 1),
            ("sla-breach:T1:first_response:1:x", "sla.breach", 1),
            ("sla-breach:T1:resolution:1:x", "sla.breach", 1),
            ("snooze:T1:x", "ticket.wake", 1),
            ("sla-warn:T2:first_response:x", "sla.warn", 2),
        ]:
            uow.actions.add_if_absent(records.action(key, kind=kind, ticket_id=ticket))
        uow.commit()
        kinds = ["sla.warn", "sla.breach"]
        assert uow.actions.cancel_for_ticket(1, kinds=kinds, key_contains="_response:") == 2
        assert uow.actions.cancel_for_ticket(1, kinds=kinds) == 1
        assert uow.actions.cancel_for_ticket(1, kinds=kinds) == 0
        uow.commit()
        assert (
            uow.actions.cancel_for_ticket(
                2, kinds=kinds, except_keys=["sla-warn:T2:first_response:x"]
            )
            == 0
        )
        statuses = {
            a.idem_key: a.status
            for kind in ("sla.warn", "sla.breach", "ticket.wake")
            for a in uow.actions.list_for_kind(kind)
        }
        assert statuses["snooze:T1:x"] is ActionStatus.PENDING
        assert statuses["sla-warn:T2:first_response:x"] is ActionStatus.PENDING
        assert statuses["sla-breach:T1:resolution:1:x"] is ActionStatus.CANCELLED
        pending = uow.actions.list_for_kind("sla.warn", statuses=[ActionStatus.PENDING])
        assert [a.idem_key for a in pending] == ["sla-warn:T2:first_response:x"]


def test_add_or_revive_writes_many_rows_in_one_call(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        rows = [records.action(f"many-{n}", ticket_id=9, kind="sla.warn") for n in range(5)]
        assert uow.actions.add_or_revive(*rows) == 5
        assert uow.actions.add_or_revive(*rows) == 0  # pending rows are left alone
        assert uow.actions.add_or_revive() == 0
        uow.commit()
    with uow_factory() as uow:
        assert all(uow.actions.get_by_key(f"many-{n}") is not None for n in range(5))
