"""Meeting slot assignment: every invited family of a meeting gets one slot at once, optimally.

This is the pure core of ``jembatan meeting schedule ID``. The caller turns slots and families
into plain values (``SlotSupply``, ``FamilyDemand``); ``assign`` returns one slot per family
(or none) and touches no database.

The objective is lexicographic; a higher tier is never traded for any amount of a lower one:

1. as many families as possible placed inside their stated availability (``fitting``);
2. as many families as possible placed at all (a family with no stated availability, or none
   that fits, takes any remaining slot it is not blocked from); capacity is never exceeded;
3. as many families with a sibling booking as possible placed back to back with it (``near``);
4. as many families as possible in preferred (weekend / evening) slots;
5. an even spread: the k-th family in a slot costs more than the (k-1)-th.

Because tier 1 outranks tier 2, a ``blocked`` set can in rare cases leave a family unassigned
even though a complete assignment exists: that assignment would have to move another family
out of its stated availability, and a slot a family said it cannot make is worth less than an
open question the school follows up by hand.

All five tiers are one min-cost flow (OR-Tools ``SimpleMinCostFlow``), solved exactly:
``source -> family -> slot -> sink`` plus a ``family -> sink`` arc for "no slot". Ties are
broken deterministically: the network is built in a canonical order (slots by time, families
by key) and the solver is deterministic, so the same families and slots always give the same
result, whatever order the caller lists them in.

``first_come_first_served`` is the baseline conference-booking tools use; ``max_matched_bound``
is the max-flow upper bound on tier 1, computed independently, for tests and the benchmark.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from ortools.graph.python import max_flow, min_cost_flow

# OR-Tools' cost-scaling algorithm multiplies every unit cost by (number of nodes + 1) and
# answers BAD_COST_RANGE well before that product leaves int64 (measured with 9.15: at about
# 0.36 * 2**63); 2**61 keeps a margin. Realistic meetings (1,000 families) stay far below it.
_COST_LIMIT = 2**61


@dataclass(frozen=True, slots=True)
class SlotSupply:
    """One meeting slot: ``capacity`` families fit in it; ``preferred`` = weekend or evening."""

    id: int
    capacity: int
    starts_at: datetime
    ends_at: datetime
    preferred: bool


@dataclass(frozen=True, slots=True)
class FamilyDemand:
    """One invited family.

    ``fitting``: ids of the slots inside the family's stated availability; ``None`` when the
    family stated none (any slot will do, but it never counts as matched). ``blocked``: slots
    the family must not get (e.g. they overlap a sibling's booking with another teacher).
    ``near``: slots back to back with such a sibling booking (preferred).
    """

    key: str
    fitting: frozenset[int] | None
    blocked: frozenset[int] = frozenset()
    near: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Assignment:
    """The result: ``slot_of`` maps every family key (in the caller's order) to a slot id or
    ``None``; the counts summarise it (``near`` and ``preferred`` count families)."""

    slot_of: dict[str, int | None]
    matched: int
    assigned: int
    unassigned: int
    near: int
    preferred: int

    def load(self) -> dict[int, int]:
        """How many families each used slot holds."""
        counts: dict[int, int] = {}
        for slot_id in self.slot_of.values():
            if slot_id is not None:
                counts[slot_id] = counts.get(slot_id, 0) + 1
        return counts


@dataclass(frozen=True, slots=True)
class Weights:
    """Per-unit costs of the five tiers; see ``weights_for`` for why each dominates."""

    unmatched: int  # a family not inside its stated availability (tier 1)
    unassigned: int  # a family with no slot at all (tier 2)
    not_near: int  # a family with a sibling booking, not placed back to back (tier 3)
    not_preferred: int  # a family not in a preferred slot (tier 4)
    spread: int  # per family already in the slot (tier 5)


def weights_for(families: int, with_siblings: int, units: Sequence[int]) -> Weights:
    """Weights making the weighted sum exactly lexicographic.

    Each tier t counts "misses" ``U_t`` (families unmatched, unassigned, not near, not in a
    preferred slot; an unassigned family misses every tier), and ``U_t`` is an integer in
    ``[0, R_t]``. Two solutions that tie on the tiers above t and differ on tier t differ by
    at least ``W_t`` there, and by at most ``sum(W_j * R_j for lower j)`` below, so
    ``W_t = 1 + sum(W_j * R_j for lower j)`` makes tier t dominate everything under it.
    ``units`` is the number of unit arcs per slot (its capacity, at most the family count); the
    spread cost of a slot holding L families is 0 + 1 + ... + (L-1).
    """
    most = max(units, default=0)
    spread_range = min(
        sum(u * (u - 1) // 2 for u in units),
        families * max(most - 1, 0) // 2,  # each family adds at most (most - 1) / 2 on average
    )
    spread = 1
    below = spread * spread_range
    not_preferred = below + 1
    below += not_preferred * families
    not_near = below + 1
    below += not_near * with_siblings
    unassigned = below + 1
    below += unassigned * families
    unmatched = below + 1
    return Weights(unmatched, unassigned, not_near, not_preferred, spread)


def _ordered_slots(slots: Iterable[SlotSupply]) -> list[SlotSupply]:
    """Slots in time order (id breaks ties), after checking ids and capacities."""
    ordered = sorted(slots, key=lambda s: (s.starts_at, s.ends_at, s.id))
    ids = [s.id for s in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError("slot ids must be unique")
    for slot in ordered:
        if slot.capacity < 0:
            raise ValueError(f"slot {slot.id}: capacity must not be negative")
    return ordered


def _checked_families(families: Iterable[FamilyDemand]) -> list[FamilyDemand]:
    listed = list(families)
    keys = [f.key for f in listed]
    if len(set(keys)) != len(keys):
        raise ValueError("family keys must be unique")
    return listed


def _summarise(
    slots: Sequence[SlotSupply], families: Sequence[FamilyDemand], chosen: dict[str, int | None]
) -> Assignment:
    preferred_ids = {s.id for s in slots if s.preferred}
    slot_of = {f.key: chosen.get(f.key) for f in families}
    matched = near = preferred = assigned = 0
    for family in families:
        slot_id = slot_of[family.key]
        if slot_id is None:
            continue
        assigned += 1
        matched += family.fitting is not None and slot_id in family.fitting
        near += slot_id in family.near
        preferred += slot_id in preferred_ids
    return Assignment(slot_of, matched, assigned, len(families) - assigned, near, preferred)


def assign(slots: Iterable[SlotSupply], families: Iterable[FamilyDemand]) -> Assignment:
    """Every family one slot at once, optimal for the five tiers in the module docstring."""
    slot_list = _ordered_slots(slots)
    listed = _checked_families(families)
    ordered = sorted(listed, key=lambda f: f.key)
    n, m = len(ordered), len(slot_list)
    if n == 0:
        return _summarise(slot_list, listed, {})

    column = {s.id: j for j, s in enumerate(slot_list)}
    # Unit arcs beyond n can never carry flow; capping keeps the network and the weights small.
    units = [min(s.capacity, n) for s in slot_list]
    allowed = np.zeros((n, m), dtype=bool)
    fitting = np.zeros((n, m), dtype=bool)
    near = np.zeros((n, m), dtype=bool)
    has_near = np.zeros(n, dtype=bool)
    has_room = np.array([u > 0 for u in units], dtype=bool)  # capacity-0 slots take nobody
    for i, family in enumerate(ordered):
        allowed[i] = has_room
        for slot_id in family.blocked:
            if slot_id in column:
                allowed[i, column[slot_id]] = False
        for slot_id in family.fitting or ():
            if slot_id in column:
                fitting[i, column[slot_id]] = True
        for slot_id in family.near:
            if slot_id in column:
                near[i, column[slot_id]] = True
        # Only near slots this family can actually get count toward tier 3's range.
        has_near[i] = bool((near[i] & allowed[i]).any())
    preferred = np.array([s.preferred for s in slot_list], dtype=bool)

    w = weights_for(n, int(has_near.sum()), units)
    source, sink = 0, n + m + 1
    nodes = n + m + 2
    worst_arc = w.unmatched + w.unassigned + w.not_near + w.not_preferred
    if worst_arc * (nodes + 1) >= _COST_LIMIT:
        raise ValueError(
            f"{n} families and {m} slots are too many for exact lexicographic weights; "
            "split the meeting (e.g. per class)"
        )

    fam_idx, slot_idx = np.nonzero(allowed)
    pair_cost = (
        w.unmatched * ~fitting[fam_idx, slot_idx]
        + w.not_near * (has_near[fam_idx] & ~near[fam_idx, slot_idx])
        + w.not_preferred * ~preferred[slot_idx]
    ).astype(np.int64)
    stay_home = w.unmatched + w.unassigned + w.not_preferred + w.not_near * has_near

    family_nodes = np.arange(1, n + 1, dtype=np.int64)
    spread_slot = np.repeat(np.arange(m, dtype=np.int64), units)
    ranks = [np.arange(u, dtype=np.int64) for u in units]
    spread_rank = np.concatenate(ranks) if ranks else np.zeros(0, np.int64)

    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        np.full(n, source, dtype=np.int64),
        family_nodes,
        np.ones(n, np.int64),
        np.zeros(n, np.int64),
    )
    pair_arcs = flow.add_arcs_with_capacity_and_unit_cost(
        fam_idx.astype(np.int64) + 1,
        slot_idx.astype(np.int64) + n + 1,
        np.ones(len(fam_idx), np.int64),
        pair_cost,
    )
    flow.add_arcs_with_capacity_and_unit_cost(
        family_nodes,
        np.full(n, sink, dtype=np.int64),
        np.ones(n, np.int64),
        stay_home.astype(np.int64),
    )
    # Convex spread: unit arc k of a slot costs k, so the solver fills the cheap arcs first.
    flow.add_arcs_with_capacity_and_unit_cost(
        spread_slot + n + 1,
        np.full(len(spread_slot), sink, dtype=np.int64),
        np.ones(len(spread_slot), np.int64),
        w.spread * spread_rank,
    )
    flow.set_nodes_supplies(np.array([source, sink], np.int64), np.array([n, -n], np.int64))
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed: {status}")

    used = flow.flows(pair_arcs) > 0
    chosen: dict[str, int | None] = {
        ordered[i].key: slot_list[j].id for i, j in zip(fam_idx[used], slot_idx[used], strict=True)
    }
    return _summarise(slot_list, listed, chosen)


def first_come_first_served(
    slots: Iterable[SlotSupply], families: Iterable[FamilyDemand]
) -> Assignment:
    """The baseline: in the given order, each family takes the earliest open slot inside its
    availability, else the earliest open slot at all (never a blocked one)."""
    slot_list = _ordered_slots(slots)
    listed = _checked_families(families)
    left = {s.id: s.capacity for s in slot_list}
    chosen: dict[str, int | None] = {}
    for family in listed:
        open_ids = [s.id for s in slot_list if left[s.id] > 0 and s.id not in family.blocked]
        fits = [i for i in open_ids if family.fitting is not None and i in family.fitting]
        pick = (fits or open_ids or [None])[0]
        if pick is not None:
            left[pick] -= 1
        chosen[family.key] = pick
    return _summarise(slot_list, listed, chosen)


def max_matched_bound(slots: Iterable[SlotSupply], families: Iterable[FamilyDemand]) -> int:
    """Most families that can be placed inside their availability at once (a plain max flow,
    independent of ``assign``'s min-cost flow), so ``assign(...).matched`` can be checked."""
    slot_list = _ordered_slots(slots)
    listed = _checked_families(families)
    n, m = len(listed), len(slot_list)
    if n == 0 or m == 0:
        return 0
    column = {s.id: n + 1 + j for j, s in enumerate(slot_list)}
    source, sink = 0, n + m + 1
    tails: list[int] = []
    heads: list[int] = []
    caps: list[int] = []
    for i, family in enumerate(listed, start=1):
        tails.append(source)
        heads.append(i)
        caps.append(1)
        for slot_id in sorted((family.fitting or frozenset()) - family.blocked):
            if slot_id in column:
                tails.append(i)
                heads.append(column[slot_id])
                caps.append(1)
    for slot in slot_list:
        tails.append(column[slot.id])
        heads.append(sink)
        caps.append(slot.capacity)
    solver = max_flow.SimpleMaxFlow()
    solver.add_arcs_with_capacity(
        np.array(tails, np.int64), np.array(heads, np.int64), np.array(caps, np.int64)
    )
    status = solver.solve(source, sink)
    if status != solver.OPTIMAL:
        raise RuntimeError(f"max flow failed: {status}")
    return int(solver.optimal_flow())
