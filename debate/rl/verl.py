"""verl's custom reward function: one solution's debate reward, in-process or from a server.

Set verl's `custom_reward_function.path` to this module's file (or `debate/rewards.py`)
and its name to `verl_compute_score`. With `DEBATE_REWARD_URL` (or `reward_url` in
`extra_info`) the reward comes from a running `debate serve-reward`; otherwise one
`DebateRewarder`, configured from `DEBATE_REWARD_*` variables, runs in the process.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from debate.rl.reward import DebateRewarder, RewardItem, RewardSettings
from debate.rl.server import parse_label


def settings_from_env() -> RewardSettings:
    """Settings from `DEBATE_REWARD_{PROTOCOL,JUDGE,DEBATER,MODE,LAMBDA,ALTERNATIVE}`."""
    values: dict[str, Any] = {}
    names = ("protocol", "judge", "debater", "mode", "alternative")
    for name in names:
        value = os.environ.get(f"DEBATE_REWARD_{name.upper()}")
        if value:
            values[name] = value
    lam = os.environ.get("DEBATE_REWARD_LAMBDA")
    if lam:
        values["lam"] = float(lam)
    return RewardSettings(**values)


_LOCAL: dict[str, DebateRewarder] = {}


def local_score(question: str, solution: str, label: Any) -> float:
    """One reward computed in this process (rewarder built once from the env vars)."""
    rewarder = _LOCAL.get("rewarder")
    if rewarder is None:
        rewarder = _LOCAL["rewarder"] = DebateRewarder(settings_from_env())
    label_kind = os.environ.get("DEBATE_REWARD_LABELS", "gold")
    fields = parse_label(label, label_kind, "ground_truth")
    fields.setdefault("question", question)
    item = RewardItem(answer=solution.strip(), **fields)
    return asyncio.run(rewarder.score([item])).rewards[0]


def post_reward(url: str, question: str, solution: str, label: Any) -> float:
    """One reward from a running server (standard library HTTP; no extra dependency)."""
    import urllib.request

    body = {"query": [question + solution], "prompts": [question], "labels": [label]}
    request = urllib.request.Request(
        url.rstrip("/") + "/get_reward",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=600) as reply:
        return float(json.loads(reply.read())["rewards"][0])


def verl_score(
    data_source: str, solution_str: str, ground_truth: Any, extra_info: dict[str, Any] | None
) -> float:
    info = dict(extra_info or {})
    question = str(info.get("question") or info.get("prompt") or "")
    label = ground_truth if isinstance(ground_truth, str | dict) else str(ground_truth)
    url = info.get("reward_url") or os.environ.get("DEBATE_REWARD_URL")
    if url:
        return post_reward(str(url), question, solution_str, label)
    return local_score(question, solution_str, label)


def verl_compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
) -> float:
    """verl's `custom_reward_function`: one solution's reward."""
    return verl_score(data_source, solution_str, ground_truth, extra_info)
