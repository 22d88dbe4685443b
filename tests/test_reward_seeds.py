"""Rewards are reproducible: the same request with the same `--seed` gives the same
rewards whatever the server (or the in-process rewarder) served before, because each
debate's seed derives from the run seed and the item's content, not from a counter."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from reward_server import call, reward_server

from debate.rl.reward import DebateRewarder, RewardItem, RewardSettings

OPTIONS = ("--judge", "scripted", "--debater", "scripted", "--reward", "prob_diff", "--seed", "7")


def request(questions: list[str]) -> bytes:
    prompts = [f"Q: {q}\nA: " for q in questions]
    queries = [p + f"answer {i}" for i, p in enumerate(prompts)]
    labels = [f"other {i}" for i in range(len(questions))]
    return json.dumps({"query": queries, "prompts": prompts, "labels": labels}).encode()


def rewards(url: str, body: bytes) -> list[Any]:
    status, reply = call(url + "/get_reward", body)
    assert status == 200, reply
    return list(reply["rewards"])


def test_same_request_same_seed_same_rewards_through_the_server() -> None:
    probe = request([f"question {i}?" for i in range(12)])
    with reward_server(*OPTIONS) as server:
        first = rewards(server, probe)
        assert len(set(first)) > 1, "the scripted judge must vary with the seed for this test"
        for other in range(6):  # other traffic in between must not shift any seed
            rewards(server, request([f"other {other}-{i}?" for i in range(5)]))
            assert rewards(server, probe) == first
    with reward_server(*OPTIONS) as fresh:  # a new process with the same seed
        assert rewards(fresh, probe) == first


def test_in_process_rewarder_ignores_earlier_batches() -> None:
    settings = RewardSettings(judge="scripted", debater="scripted", mode="prob_diff", seed=3)
    items = [RewardItem(question=f"q{i}?", answer=f"a{i}", alternative=f"b{i}") for i in range(8)]

    async def scores() -> tuple[list[float], list[float], list[float]]:
        rewarder = DebateRewarder(settings)
        first = (await rewarder.score(items)).rewards
        await rewarder.score(items[::-1])
        again = (await rewarder.score(items)).rewards
        fresh = (await DebateRewarder(settings).score(items[3:])).rewards
        return first, again, fresh

    first, again, fresh = asyncio.run(scores())
    assert first == again
    assert fresh == first[3:]
