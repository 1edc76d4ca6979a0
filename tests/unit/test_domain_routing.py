"""Who owns a follow-up: the active owner, else the team's fallback, else the queue."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.domain.routing import (
    Assignment,
    Member,
    Rotation,
    RouteReason,
    Team,
    escalation_owner,
    next_in_rotation,
    route,
)

SALES = Team(
    "sales",
    (Member("u1"), Member("u2", active=False), Member("u3"), Member("u4")),
    fallback_owner_id="u-fallback",
    lead_id="u-lead",
)
EMPTY = Rotation()


def test_the_active_owner_keeps_the_task() -> None:
    assert route("u9", SALES, EMPTY, owner_active=True, fallback_owner_id="q") == Assignment(
        "u9", RouteReason.OWNER, EMPTY
    )


def test_an_inactive_or_missing_owner_goes_round_robin_over_active_members() -> None:
    rotation = EMPTY
    chosen = []
    for owner, active in [("u2", False), (None, True), ("", True), ("u2", False), (None, False)]:
        got = route(owner, SALES, rotation, owner_active=active, fallback_owner_id="q")
        assert got.reason is RouteReason.ROUND_ROBIN
        chosen.append(got.owner_id)
        rotation = got.rotation
    assert chosen == ["u1", "u3", "u4", "u1", "u3"]  # u2 is inactive, never chosen
    assert rotation.last == {"sales": "u3"}


def test_the_rotation_persists_as_plain_json_and_resumes() -> None:
    got = route(None, SALES, EMPTY, owner_active=False)
    restored = Rotation(json.loads(json.dumps(dict(got.rotation.last))))
    assert route(None, SALES, restored, owner_active=False).owner_id == "u3"


def test_the_rotation_survives_roster_changes() -> None:
    rotation = Rotation({"sales": "u3"})
    grown = Team("sales", (Member("u1"), Member("u3"), Member("u5"), Member("u4")))
    assert next_in_rotation(grown, rotation) == "u5"  # not reshuffled by the new member
    shrunk = Team("sales", (Member("u1"), Member("u4")))
    assert next_in_rotation(shrunk, rotation) == "u1"  # u3 left: start over
    assert next_in_rotation(Team("sales", (Member("u1", active=False),)), rotation) is None


def test_teams_rotate_independently() -> None:
    support = Team("support", (Member("s1"), Member("s2")))
    rotation = route(None, SALES, EMPTY, owner_active=False).rotation
    rotation = route(None, support, rotation, owner_active=False).rotation
    assert rotation.last == {"sales": "u1", "support": "s1"}
    assert route(None, SALES, rotation, owner_active=False).owner_id == "u3"


def test_no_active_member_falls_back_to_the_teams_owner_then_the_queue() -> None:
    idle = Team("idle", (Member("x", active=False),), fallback_owner_id="t-fallback")
    assert route(None, idle, EMPTY, owner_active=False, fallback_owner_id="q") == Assignment(
        "t-fallback", RouteReason.TEAM_FALLBACK, EMPTY
    )
    bare = Team("bare", (Member("x", active=False),))
    assert route(None, bare, EMPTY, owner_active=False, fallback_owner_id="q") == Assignment(
        "q", RouteReason.QUEUE, EMPTY
    )
    assert (
        route("u2", None, EMPTY, owner_active=False, fallback_owner_id="q").reason
        is RouteReason.QUEUE
    )
    assert route(None, None, EMPTY, owner_active=False) == Assignment(
        None, RouteReason.UNASSIGNED, EMPTY
    )


def test_a_team_without_round_robin_uses_its_fallback_owner() -> None:
    fixed = Team("fixed", (Member("a"),), round_robin=False, fallback_owner_id="boss")
    assert route(None, fixed, EMPTY, owner_active=False).owner_id == "boss"


def test_escalations_go_to_the_team_lead_else_the_fallback() -> None:
    assert escalation_owner(SALES, "q") == "u-lead"
    assert escalation_owner(Team("x"), "q") == "q"
    assert escalation_owner(None) is None


members = st.lists(
    st.builds(Member, st.sampled_from(["a", "b", "c", "d", "e", "f"]), st.booleans()),
    max_size=6,
    unique_by=lambda m: m.user_id,
)


@settings(max_examples=300, deadline=None)
@given(members, st.integers(1, 30))
def test_round_robin_is_fair_and_deterministic(roster: list[Member], turns: int) -> None:
    team = Team("t", tuple(roster), fallback_owner_id="fb")
    active = [m.user_id for m in roster if m.active]
    rotation, chosen = EMPTY, []
    for _ in range(turns):
        got = route(None, team, rotation, owner_active=False, fallback_owner_id="q")
        again = route(None, team, rotation, owner_active=False, fallback_owner_id="q")
        assert got == again  # same state in, same answer out
        chosen.append(got.owner_id)
        rotation = got.rotation
    if not active:
        assert set(chosen) == {"fb"}
        return
    assert set(chosen) <= set(active)
    counts = [chosen.count(u) for u in active]
    assert max(counts) - min(counts) <= 1  # each active member in turn
    assert chosen[: len(active)] == active[: len(chosen)]
