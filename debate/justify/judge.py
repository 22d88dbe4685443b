"""The judge proxy: a small torch MLP that scores actions given a masked state.

Input is the revealed feature values (zero where hidden) concatenated with the
reveal mask; output is one score per action. It is trained Bradley-Terry style on
preferences "expert action > other action": the loss is -log sigmoid(s(expert) -
s(other)). The proxy judge sees a random subset of 1..L features per example (so it
also judges the partial evidence a debate passes through); the ideal judge sees
the full state. Both save to and load from one `.pt` file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from debate.justify.env import DecisionEnv


class JudgeMLP(nn.Module):
    """Scores every action from (revealed values, mask)."""

    def __init__(self, num_features: int, num_actions: int, hidden: int = 64) -> None:
        super().__init__()
        self.num_features = num_features
        self.num_actions = num_actions
        self.hidden = hidden
        self.net = nn.Sequential(
            nn.Linear(2 * num_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_actions),
        )

    def forward(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.to(values.dtype)
        return self.net(torch.cat([values * mask, mask], dim=-1))

    def margin(
        self, values: torch.Tensor, mask: torch.Tensor, first: torch.Tensor, second: torch.Tensor
    ) -> torch.Tensor:
        """score(first) - score(second) per row; `values`/`mask` may have extra leading dims
        after the batch one, and `first`/`second` are (n,) action indices."""
        scores = self(values, mask)
        shape = (first.shape[0],) + (1,) * (scores.dim() - 2)
        first_index = first.view(shape).expand(scores.shape[:-1]).unsqueeze(-1)
        second_index = second.view(shape).expand(scores.shape[:-1]).unsqueeze(-1)
        return (scores.gather(-1, first_index) - scores.gather(-1, second_index)).squeeze(-1)


@dataclass(frozen=True)
class PreferenceData:
    """Pairs "preferred > other" on states, with the mask the judge sees."""

    values: torch.Tensor
    mask: torch.Tensor
    preferred: torch.Tensor
    other: torch.Tensor


@dataclass(frozen=True)
class JudgeTraining:
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 3e-3
    hidden: int = 64


def random_masks(
    n: int, num_features: int, max_revealed: int, rng: np.random.Generator
) -> np.ndarray:
    """Boolean masks, each revealing a uniformly random subset of 1..max_revealed features."""
    sizes = rng.integers(1, max_revealed + 1, size=n)
    order = np.argsort(rng.random((n, num_features)), axis=1)
    ranks = np.argsort(order, axis=1)
    return ranks < sizes[:, None]


def expert_preferences(
    env: DecisionEnv, n: int, seed: int, max_revealed: int | None
) -> PreferenceData:
    """n expert preferences; `max_revealed=None` reveals the full state (ideal judge)."""
    states = env.sample_states(n, seed)
    rng = np.random.default_rng([env.seed, seed, 4093])
    preferred = env.expert_action(states)
    shift = rng.integers(1, env.num_actions, size=n)
    other = (preferred + shift) % env.num_actions
    if max_revealed is None:
        mask = np.ones_like(states, dtype=bool)
    else:
        mask = random_masks(n, env.num_features, max_revealed, rng)
    return PreferenceData(
        torch.from_numpy(states),
        torch.from_numpy(mask),
        torch.from_numpy(preferred),
        torch.from_numpy(other),
    )


def train_judge(data: PreferenceData, seed: int, training: JudgeTraining | None = None) -> JudgeMLP:
    """Fit a JudgeMLP with the Bradley-Terry loss on the preference pairs."""
    training = training or JudgeTraining()
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    num_actions = int(max(data.preferred.max(), data.other.max()) + 1)
    judge = JudgeMLP(data.values.shape[1], num_actions, training.hidden)
    optimizer = torch.optim.Adam(judge.parameters(), lr=training.learning_rate)
    n = data.values.shape[0]
    for _ in range(training.epochs):
        permutation = torch.randperm(n, generator=generator)
        for start in range(0, n, training.batch_size):
            batch = permutation[start : start + training.batch_size]
            margin = judge.margin(
                data.values[batch], data.mask[batch], data.preferred[batch], data.other[batch]
            )
            loss = nn.functional.softplus(-margin).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    judge.eval()
    return judge


@torch.no_grad()
def pairwise_accuracy(judge: JudgeMLP, data: PreferenceData) -> float:
    """Share of pairs where the judge scores the preferred action higher (ties count half)."""
    margin = judge.margin(data.values, data.mask, data.preferred, data.other)
    return float(((margin > 0).float() + 0.5 * (margin == 0).float()).mean())


def save_judge(judge: JudgeMLP, path: str | Path) -> None:
    shape = {
        "num_features": judge.num_features,
        "num_actions": judge.num_actions,
        "hidden": judge.hidden,
    }
    torch.save({"shape": shape, "state_dict": judge.state_dict()}, Path(path))


def load_judge(path: str | Path) -> JudgeMLP:
    saved = torch.load(Path(path), weights_only=True)
    judge = JudgeMLP(**saved["shape"])
    judge.load_state_dict(saved["state_dict"])
    judge.eval()
    return judge
