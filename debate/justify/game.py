"""The debate over evidence: two arguers reveal state features until L are shown.

Side 0 defends one action, side 1 another. They alternate, starting with a side
drawn at random (seeded) per debate; each move reveals one not-yet-revealed feature.
After L reveals the judge scores both actions on the revealed evidence; the margin
score(side 0) - score(side 1) gives the outcome: +1 / -1 / 0 (zero-sum), or the
probability difference / log score of the Bradley-Terry reading p = sigmoid(margin).
Debates run batched: every tensor has one row per debate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import torch

from debate.justify.judge import JudgeMLP

RewardMode = Literal["zero_sum", "prob_diff", "log_score"]


class Arguer(Protocol):
    """Chooses the next feature to reveal for every debate in a batch."""

    name: str

    def choose(
        self,
        judge: JudgeMLP,
        values: torch.Tensor,
        mask: torch.Tensor,
        own: torch.Tensor,
        opponent: torch.Tensor,
        turns_left: int,
    ) -> torch.Tensor:
        """Feature indices (n,), each unrevealed in its row; `turns_left` counts this move."""
        ...


@dataclass(frozen=True)
class EvidenceArgument:
    """One move as it appears in a transcript."""

    side: int
    feature: str
    value: float

    def render(self, side_names: Sequence[str] = ("A", "B")) -> str:
        return f"{side_names[self.side]}: {self.feature} = {self.value:.2f}"


@dataclass(frozen=True)
class DebateResult:
    """A batch of finished debates."""

    actions: torch.Tensor
    order: torch.Tensor
    movers: torch.Tensor
    mask: torch.Tensor
    margin: torch.Tensor

    @property
    def outcome(self) -> torch.Tensor:
        """Zero-sum outcome from side 0's view: +1 win, -1 loss, 0 tie."""
        return zero_sum(self.margin)

    def arguments(
        self, row: int, values: torch.Tensor, feature_names: Sequence[str]
    ) -> list[EvidenceArgument]:
        """The moves of one debate as (side, feature name, value)."""
        return [
            EvidenceArgument(int(side), feature_names[int(f)], float(values[row, int(f)]))
            for f, side in zip(self.order[row], self.movers[row], strict=True)
        ]

    def record(
        self,
        row: int,
        values: torch.Tensor,
        feature_names: Sequence[str],
        action_names: Sequence[str],
    ) -> dict[str, object]:
        """A JSON-ready transcript record of one debate."""
        return {
            "actions": [action_names[int(a)] for a in self.actions[row]],
            "arguments": [
                {"side": a.side, "feature": a.feature, "value": round(a.value, 4)}
                for a in self.arguments(row, values, feature_names)
            ],
            "margin": float(self.margin[row]),
            "outcome": int(self.outcome[row]),
        }


def zero_sum(margin: torch.Tensor) -> torch.Tensor:
    """+1 where side 0 is preferred, -1 where side 1 is, 0 on an exact tie."""
    return torch.sign(margin)


def debate_reward(margin: torch.Tensor, mode: RewardMode = "zero_sum") -> torch.Tensor:
    """Side 0's reward from the judge margin: zero_sum, prob_diff or log_score."""
    if mode == "zero_sum":
        return zero_sum(margin)
    probability = torch.sigmoid(margin)
    if mode == "prob_diff":
        return 2.0 * probability - 1.0
    if mode == "log_score":
        return torch.nn.functional.logsigmoid(margin)
    raise ValueError(f"unknown reward mode {mode!r}")


def mix_rewards(env_reward: torch.Tensor, debate: torch.Tensor, lam: float) -> torch.Tensor:
    """r = (1 - lambda) * r_env + lambda * r_debate."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda must lie in [0, 1], got {lam}")
    return (1.0 - lam) * env_reward + lam * debate


@torch.no_grad()
def run_evidence_debate(
    judge: JudgeMLP,
    values: torch.Tensor,
    action_0: torch.Tensor,
    action_1: torch.Tensor,
    arguer_0: Arguer,
    arguer_1: Arguer,
    num_reveals: int = 6,
    first_mover: torch.Tensor | None = None,
    seed: int = 0,
) -> DebateResult:
    """Play one batched debate; `first_mover` (n,) of 0/1 defaults to a seeded coin flip."""
    n, num_features = values.shape
    if not 1 <= num_reveals <= num_features:
        raise ValueError(f"num_reveals must be in 1..{num_features}, got {num_reveals}")
    if first_mover is None:
        generator = torch.Generator().manual_seed(seed)
        first_mover = torch.randint(0, 2, (n,), generator=generator)
    mask = torch.zeros(n, num_features, dtype=torch.bool)
    order = torch.empty(n, num_reveals, dtype=torch.long)
    movers = torch.empty(n, num_reveals, dtype=torch.long)
    for turn in range(num_reveals):
        mover = (first_mover + turn) % 2
        movers[:, turn] = mover
        chosen = torch.empty(n, dtype=torch.long)
        for side, arguer, own, opponent in (
            (0, arguer_0, action_0, action_1),
            (1, arguer_1, action_1, action_0),
        ):
            rows = torch.nonzero(mover == side).squeeze(1)
            if rows.numel() == 0:
                continue
            chosen[rows] = arguer.choose(
                judge, values[rows], mask[rows], own[rows], opponent[rows], num_reveals - turn
            )
        if bool(mask.gather(1, chosen.unsqueeze(1)).any()):
            raise RuntimeError("an arguer revealed a feature twice")
        mask[torch.arange(n), chosen] = True
        order[:, turn] = chosen
    margin = judge.margin(values, mask, action_0, action_1)
    margin = torch.where(action_0 == action_1, torch.zeros_like(margin), margin)
    return DebateResult(torch.stack([action_0, action_1], 1), order, movers, mask, margin)
