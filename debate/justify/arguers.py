"""Argumentative agents for the evidence debate.

- `RandomArguer`: a uniformly random unrevealed feature (a reference point);
- `GreedyArguer`: the feature that most raises its side's judge margin after the move;
- `MinimaxArguer`: depth-2 search, the feature whose worst-case opponent reply still
  leaves the best margin;
- `LearnedArguer`: a small torch policy trained by self-play policy gradients
  (REINFORCE on the zero-sum outcome) with `train_learned_arguer`;
- `ConfuserArguer`: a greedy arguer meant to be placed on the action the ideal
  (full-state) judge rejects, so every feature it reveals is chosen to mislead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from debate.justify.env import DecisionEnv
from debate.justify.judge import JudgeMLP

_CHUNK = 256


def _one_step_masks(mask: torch.Tensor) -> torch.Tensor:
    """(n, K, K): row f of debate i is its mask with feature f also revealed."""
    eye = torch.eye(mask.shape[1], dtype=torch.bool)
    return mask.unsqueeze(1) | eye.unsqueeze(0)


class RandomArguer:
    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def choose(
        self,
        judge: JudgeMLP,
        values: torch.Tensor,
        mask: torch.Tensor,
        own: torch.Tensor,
        opponent: torch.Tensor,
        turns_left: int,
    ) -> torch.Tensor:
        noise = torch.rand(mask.shape, generator=self.generator)
        return noise.masked_fill(mask, -1.0).argmax(dim=1)


class GreedyArguer:
    name = "greedy"

    @torch.no_grad()
    def choose(
        self,
        judge: JudgeMLP,
        values: torch.Tensor,
        mask: torch.Tensor,
        own: torch.Tensor,
        opponent: torch.Tensor,
        turns_left: int,
    ) -> torch.Tensor:
        candidates = _one_step_masks(mask)
        expanded = values.unsqueeze(1).expand_as(candidates)
        margin = judge.margin(expanded, candidates, own, opponent)
        return margin.masked_fill(mask, -torch.inf).argmax(dim=1)


class ConfuserArguer(GreedyArguer):
    """Greedy evidence selection; the experiment seats it on the ideal judge's rejected action."""

    name = "confuser"


class MinimaxArguer:
    name = "minimax"

    def __init__(self, depth: int = 2) -> None:
        if depth not in (1, 2):
            raise ValueError("minimax depth must be 1 or 2")
        self.depth = depth

    @torch.no_grad()
    def choose(
        self,
        judge: JudgeMLP,
        values: torch.Tensor,
        mask: torch.Tensor,
        own: torch.Tensor,
        opponent: torch.Tensor,
        turns_left: int,
    ) -> torch.Tensor:
        if self.depth == 1 or turns_left <= 1:
            return GreedyArguer().choose(judge, values, mask, own, opponent, turns_left)
        return torch.cat(
            [
                self._search(
                    judge,
                    values[i : i + _CHUNK],
                    mask[i : i + _CHUNK],
                    own[i : i + _CHUNK],
                    opponent[i : i + _CHUNK],
                )
                for i in range(0, values.shape[0], _CHUNK)
            ]
        )

    @staticmethod
    def _search(
        judge: JudgeMLP,
        values: torch.Tensor,
        mask: torch.Tensor,
        own: torch.Tensor,
        opponent: torch.Tensor,
    ) -> torch.Tensor:
        n, k = mask.shape
        after_mine = _one_step_masks(mask)
        eye = torch.eye(k, dtype=torch.bool)
        after_reply = after_mine.unsqueeze(2) | eye.view(1, 1, k, k)
        expanded = values.view(n, 1, 1, k).expand(n, k, k, k)
        margin = judge.margin(expanded, after_reply, own, opponent)
        invalid_reply = after_mine
        worst = margin.masked_fill(invalid_reply, torch.inf).amin(dim=2)
        return worst.masked_fill(mask, -torch.inf).argmax(dim=1)


class ArguerPolicy(nn.Module):
    """Logits over candidate features for one move.

    Each unrevealed feature f is described by what revealing it would do to the judge:
    the change of the side's margin, of its own action's score and of the opponent's,
    plus the feature's value, its identity and the moves left. The logit is a learned
    temperature times the margin change plus a small MLP's correction; the correction
    starts at zero, so the untrained policy is a softened greedy arguer.
    """

    def __init__(self, num_features: int, hidden: int = 32) -> None:
        super().__init__()
        self.num_features = num_features
        self.temperature = nn.Parameter(torch.tensor(4.0))
        self.correction = nn.Sequential(
            nn.Linear(5 + num_features, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )
        last = self.correction[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(
        self,
        judge: JudgeMLP,
        values: torch.Tensor,
        mask: torch.Tensor,
        own: torch.Tensor,
        opponent: torch.Tensor,
        turns_left: int,
    ) -> torch.Tensor:
        n, k = mask.shape
        with torch.no_grad():
            rows = torch.arange(n)
            now = judge(values, mask)
            after = judge(values.unsqueeze(1).expand(n, k, k), _one_step_masks(mask))
            own_gain = after[rows, :, own] - now[rows, own].unsqueeze(1)
            opp_gain = after[rows, :, opponent] - now[rows, opponent].unsqueeze(1)
            margin_gain = own_gain - opp_gain
            context = torch.stack(
                [margin_gain, own_gain, opp_gain, values, torch.full_like(values, turns_left / k)],
                dim=-1,
            )
            identity = torch.eye(k).expand(n, k, k)
            described = torch.cat([context, identity], dim=-1)
        logits = self.temperature * margin_gain + self.correction(described).squeeze(-1)
        return logits.masked_fill(mask, -torch.inf)


class LearnedArguer:
    """Plays the most probable feature of a trained `ArguerPolicy`."""

    name = "learned"

    def __init__(self, policy: ArguerPolicy) -> None:
        self.policy = policy

    @torch.no_grad()
    def choose(
        self,
        judge: JudgeMLP,
        values: torch.Tensor,
        mask: torch.Tensor,
        own: torch.Tensor,
        opponent: torch.Tensor,
        turns_left: int,
    ) -> torch.Tensor:
        return self.policy(judge, values, mask, own, opponent, turns_left).argmax(dim=1)


def _random_pairs(n: int, num_actions: int, rng: np.random.Generator) -> torch.Tensor:
    first = rng.integers(0, num_actions, size=n)
    second = (first + rng.integers(1, num_actions, size=n)) % num_actions
    return torch.from_numpy(np.stack([first, second], 1))


def train_learned_arguer(
    judge: JudgeMLP,
    env: DecisionEnv,
    seed: int,
    num_reveals: int = 6,
    iterations: int = 150,
    batch_size: int = 256,
    learning_rate: float = 3e-3,
    entropy_bonus: float = 0.01,
) -> LearnedArguer:
    """Self-play REINFORCE: one shared policy plays both sides of random action pairs;
    each side's log-probabilities are weighted by its zero-sum outcome (+1/-1/0)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    policy = ArguerPolicy(env.num_features)
    optimizer = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    pool = torch.from_numpy(env.sample_states(4096, seed + 7919))
    arange = torch.arange(batch_size)
    for _ in range(iterations):
        values = pool[torch.randint(0, pool.shape[0], (batch_size,), generator=generator)]
        actions = _random_pairs(batch_size, env.num_actions, rng)
        starter = torch.randint(0, 2, (batch_size,), generator=generator)
        mask = torch.zeros(batch_size, env.num_features, dtype=torch.bool)
        log_prob = torch.zeros(batch_size, 2)
        entropy = torch.zeros(())
        for turn in range(num_reveals):
            mover = (starter + turn) % 2
            logits = policy(
                judge,
                values,
                mask,
                actions[arange, mover],
                actions[arange, 1 - mover],
                num_reveals - turn,
            )
            dist = torch.distributions.Categorical(logits=logits)
            chosen = dist.sample()
            step_log_prob = dist.log_prob(chosen).unsqueeze(1)
            log_prob = log_prob + nn.functional.one_hot(mover, 2) * step_log_prob
            entropy = entropy + dist.entropy().mean()
            mask = mask.clone()
            mask[arange, chosen] = True
        with torch.no_grad():
            outcome = torch.sign(judge.margin(values, mask, actions[:, 0], actions[:, 1]))
        returns = torch.stack([outcome, -outcome], 1)
        loss = -(returns * log_prob).sum(1).mean() - entropy_bonus * entropy / num_reveals
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    policy.eval()
    return LearnedArguer(policy)


def save_learned_arguer(arguer: LearnedArguer, path: str | Path) -> None:
    policy = arguer.policy
    hidden = policy.correction[0]
    assert isinstance(hidden, nn.Linear)
    shape = {"num_features": policy.num_features, "hidden": hidden.out_features}
    torch.save({"shape": shape, "state_dict": policy.state_dict()}, Path(path))


def load_learned_arguer(path: str | Path) -> LearnedArguer:
    saved = torch.load(Path(path), weights_only=True)
    policy = ArguerPolicy(**saved["shape"])
    policy.load_state_dict(saved["state_dict"])
    policy.eval()
    return LearnedArguer(policy)
