"""The stable import path of the reward API (`debate.rewards.DebateReward` and friends).

The code lives in the `debate.rl` package; this module re-exports its public names so
trainer configs that name `debate.rewards` keep working. verl's recipe points its
`custom_reward_function.path` at this module (`pkg://debate.rewards`) or its file and
names `verl_compute_score`, `verl_compute_score_async` or `verl_compute_score_batch`.
"""

from __future__ import annotations

from debate.analysis.answers import correctness
from debate.rl.reward import (
    MODES,
    DebateRewarder,
    JudgedOrder,
    RewardBatch,
    RewardItem,
    RewardSettings,
    debate_reward,
    mix,
    unit_reward,
)
from debate.rl.trl_reward import AsyncDebateReward, DebateReward, correctness_reward
from debate.rl.verl import (
    verl_compute_score,
    verl_compute_score_async,
    verl_compute_score_batch,
)

__all__ = [
    "MODES",
    "AsyncDebateReward",
    "DebateReward",
    "DebateRewarder",
    "JudgedOrder",
    "RewardBatch",
    "RewardItem",
    "RewardSettings",
    "correctness",
    "correctness_reward",
    "debate_reward",
    "mix",
    "unit_reward",
    "verl_compute_score",
    "verl_compute_score_async",
    "verl_compute_score_batch",
]
