"""Debate rewards for RL trainers: TRL reward functions, an HTTP server, verl, GRPO.

- `reward`: `DebateRewarder`, reward modes and the lambda mix (the bottom of the package);
- `trl_reward`: `DebateReward`, `AsyncDebateReward`, `correctness_reward` for TRL;
- `server`: `debate serve-reward` in OpenRLHF's remote reward schema;
- `verl`: verl's `custom_reward_function`;
- `grpo`: `debate train grpo` with TRL;
- `commands`: `serve-reward`, `train grpo`.

The stable import path for trainers is `debate.rewards`. Docs: docs/rewards.md.
"""

from debate.core.registry import Feature
from debate.rl.commands import commands

FEATURE = Feature(name="rl", docs="docs/rewards.md", commands=commands)
