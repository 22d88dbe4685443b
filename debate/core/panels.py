"""Judge panels: the members' verdicts on one unit made into the panel's verdict.

A panel (`panel:` in a judge declaration) seats several judges, each a judge declaration
played by a model. Every member gives its own verdict on the same view; the panel's
verdict is then

- `mean`: the valid members' probabilities averaged answer by answer (a member whose
  reply could not be read is left out; with no valid member the panel's verdict is
  invalid);
- `majority`: each valid member's top choice is one vote and the panel's probabilities
  are the vote shares; a member whose own probabilities tie casts no vote.

In both, a tie for the top answer is recorded (`tie: true`) and chooses nothing, so it
never counts as correct. The record keeps every member's verdict, with its label, judge
declaration and model, next to the panel's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from debate.core.declarations import AgentSpec, JudgeSpec
from debate.core.record import Verdict
from debate.models.base import Model


@dataclass(frozen=True)
class PanelSeat:
    """One member of a judge panel, bound: its label, judge declaration and model."""

    label: str
    spec: JudgeSpec
    model: Model


def panel_seats(
    spec: AgentSpec | JudgeSpec,
    judges: dict[str, JudgeSpec],
    model: Model,
    model_named: Callable[[str], Model],
) -> list[PanelSeat]:
    """A panel judge's members, bound: each its declaration (else the panel's own prompts)
    and its model (`model_named(string)`, else the role's `model`); [] for other roles."""
    if not isinstance(spec, JudgeSpec) or spec.panel is None:
        return []
    seats: list[PanelSeat] = []
    taken: set[str] = set()
    for number, member in enumerate(spec.panel.members, 1):
        label = member.label or member.model or member.judge or f"member{number}"
        if label in taken:
            label = f"{label}#{number}"
        taken.add(label)
        seats.append(
            PanelSeat(
                label=label,
                spec=judges[member.judge] if member.judge else spec,
                model=model_named(member.model) if member.model else model,
            )
        )
    return seats


def top_choice(probs: Sequence[float]) -> int | None:
    """The index of the single highest probability; None on a tie."""
    best = max(probs)
    winners = [i for i, p in enumerate(probs) if p == best]
    return winners[0] if len(winners) == 1 else None


def aggregate(members: Sequence[Verdict], how: str) -> list[float] | None:
    """The panel's probabilities from its members' verdicts, or None with no valid member
    (or, for a vote, no member with a single top choice)."""
    valid = [m.probs for m in members if m.valid and m.probs]
    if not valid:
        return None
    width = len(valid[0])
    if any(len(probs) != width for probs in valid):
        raise ValueError("panel members gave verdicts over different numbers of answers")
    if how == "mean":
        return [sum(probs[i] for probs in valid) / len(valid) for i in range(width)]
    if how != "majority":
        raise ValueError(f"unknown panel aggregate '{how}'")
    votes = [0] * width
    for probs in valid:
        choice = top_choice(probs)
        if choice is not None:
            votes[choice] += 1
    cast = sum(votes)
    return [count / cast for count in votes] if cast else None


def panel_verdict(
    members: Sequence[Verdict],
    seats: Sequence[tuple[str, str, str]],
    *,
    how: str,
    role: str,
    round: int,
    final: bool,
    at_message: int,
) -> Verdict:
    """The panel's verdict; `seats` are (label, judge declaration, model) per member."""
    probs = aggregate(members, how)
    chosen = top_choice(probs) if probs else None
    n_valid = sum(1 for m in members if m.valid)
    details: dict[str, Any] = {
        "aggregate": how,
        "tie": probs is not None and chosen is None,
        "n_members": len(members),
        "n_valid": n_valid,
        "members": [
            {"label": label, "judge": judge, "model": model, **member.to_record()}
            for (label, judge, model), member in zip(seats, members, strict=True)
        ],
    }
    return Verdict(
        role=role,
        round=round,
        probs=probs,
        chosen=chosen,
        valid=probs is not None,
        method="panel",
        raw=f"{how} of {n_valid} valid verdicts from {len(members)} members",
        attempts=max((m.attempts for m in members), default=1),
        final=final,
        at_message=at_message,
        panel=details,
    )
