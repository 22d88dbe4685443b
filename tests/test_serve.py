"""The reward server: a real `debate serve-reward` subprocess on a free loopback port.

Checks the OpenRLHF schema, label forms, concurrent clients, bad requests (4xx with a
reason, the server keeps serving), and verl's entry points through the server.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import DEBATE
from reward_server import call, reward_server

from debate.rewards import (
    verl_compute_score,
    verl_compute_score_async,
    verl_compute_score_batch,
)
from debate.rl.server import BadRequest, parse_request


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with reward_server("--judge", "scripted", "--debater", "scripted", "--lambda", "0.5") as url:
        yield url


def body(queries: list[str], prompts: list[str], labels: list[Any]) -> bytes:
    return json.dumps({"query": queries, "prompts": prompts, "labels": labels}).encode()


def test_health(server: str) -> None:
    status, reply = call(server + "/health", method="GET")
    assert status == 200
    assert reply["status"] == "ok" and reply["protocol"] == "debate" and reply["lambda"] == 0.5


def test_get_reward_schema(server: str) -> None:
    prompts = ["Capital of France? ", "Capital of Italy? ", "Largest ocean? "]
    queries = [prompts[0] + "Paris", prompts[1] + "Milan", prompts[2] + "the Pacific."]
    labels = [
        "London",
        json.dumps({"gold": "Rome", "alternative": "Rome"}),
        {"gold": ["Pacific", "Pacific Ocean"], "alternative": "Atlantic"},
    ]
    status, reply = call(server + "/get_reward", body(queries, prompts, labels))
    assert status == 200, reply
    assert set(reply) == {"rewards", "scores", "alternatives", "extra_logs"}
    assert len(reply["rewards"]) == 3
    assert reply["alternatives"] == ["London", "Rome", "Atlantic"]
    # λ = 0.5, zero_sum: r lies in [-0.5, 1]; scores map it affinely onto [0, 1]
    assert reply["scores"] == [pytest.approx((r + 0.5) / 1.5) for r in reply["rewards"]]
    assert all(0.0 <= s <= 1.0 for s in reply["scores"])
    logs = reply["extra_logs"]
    assert {"r_debate", "r_env", "invalid", "win_rate", "invalid_rate"} <= set(logs)
    # zero_sum debate rewards average two orders; λ = 0.5 mixes in correctness
    assert all(r in (-1.0, -0.5, 0.0, 0.5, 1.0) for r in logs["r_debate"])
    assert logs["r_env"] == [0.0, 0.0, 1.0]  # item 0 has no gold; Milan is not Rome
    for reward, r_env, r_debate in zip(
        reply["rewards"], logs["r_env"], logs["r_debate"], strict=True
    ):
        assert reward == pytest.approx(0.5 * r_env + 0.5 * r_debate)


def test_concurrent_clients(server: str) -> None:
    def one(index: int) -> tuple[int, Any]:
        prompts = [f"Question {index}-{k}? " for k in range(4)]
        queries = [p + f"answer {k}" for k, p in enumerate(prompts)]
        return call(server + "/get_reward", body(queries, prompts, ["no"] * 4))

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(one, range(16)))
    assert all(status == 200 and len(reply["rewards"]) == 4 for status, reply in replies)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"prompts": ["a"]}', "query: expected a list of strings"),
        (b'{"query": "a"}', "query: expected a list of strings"),
        (b'{"query": ["a", "b"], "prompts": ["a"]}', "prompts: 1 items but query has 2"),
        (b'{"query": ["a"], "labels": [true]}', "labels[0]: expected a string, a list"),
        (b'{"query": ["a"], "labels": [[1, [2]]]}', "labels[0]: expected a string or a list"),
        (b'{"query": ["a"], "labels": [{"gold": 1}]}', "labels[0].gold"),
        (b'{"query": ["a"], "labels": [{"colour": "x"}]}', "unknown key 'colour'"),
        (b'{"query": ["a"]}', "alternative: missing"),
    ],
)
def test_bad_requests_get_400_and_the_server_survives(
    server: str, payload: bytes, reason: str
) -> None:
    status, reply = call(server + "/get_reward", payload)
    assert status == 400
    assert reason in reply["error"]
    ok, again = call(server + "/get_reward", body(["q a"], ["q "], ["b"]))
    assert ok == 200 and len(again["rewards"]) == 1


def test_wrong_method_and_path(server: str) -> None:
    assert call(server + "/get_reward", method="GET")[0] == 405
    assert call(server + "/nothing", b"{}")[0] == 404
    assert call(server + "/health", method="GET")[0] == 200


def test_verl_entry_points_through_the_server(server: str) -> None:
    info = {"question": "Capital of France?", "reward_url": server}
    label = {"gold": "Paris", "alternative": "London"}
    one = verl_compute_score("truthfulqa", "Paris", label, info)
    assert set(one) == {"score", "r_debate", "r_env", "invalid", "alternative"}
    assert one["alternative"] == "London" and one["r_env"] == 1.0
    assert one["score"] == pytest.approx(0.5 + 0.5 * one["r_debate"])  # λ = 0.5
    info_with_alternative = {**info, "alternative": "London"}
    batch = verl_compute_score_batch(
        data_sources=["qa", "qa"],
        solution_strs=["Paris", "Lyon"],
        ground_truths=[["Paris", "Paris, France"], "Paris"],
        extra_infos=[info_with_alternative] * 2,
    )
    assert [b["r_env"] for b in batch] == [1.0, 0.0]
    assert [b["alternative"] for b in batch] == ["London", "London"]
    awaited = asyncio.run(verl_compute_score_async("qa", "Lyon", label, info))
    assert awaited["r_env"] == 0.0 and awaited["score"] == pytest.approx(0.5 * awaited["r_debate"])


def test_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = subprocess.run(
            [DEBATE, "serve-reward", "--judge", "scripted", "--debater", "scripted"]
            + ["--port", port],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2
    assert "cannot listen" in result.stderr and "Traceback" not in result.stderr


def test_parse_request_splits_prompt_and_response() -> None:
    items = parse_request({"query": ["Q? A."], "prompts": ["Q? "], "labels": ["B."]})
    assert (items[0].question, items[0].answer, items[0].alternative) == ("Q?", "A.", "B.")
    gold = parse_request({"query": ["x"], "labels": ["g"]}, label_kind="gold")
    assert gold[0].gold == ["g"] and gold[0].alternative is None
    with pytest.raises(BadRequest, match="at most"):
        parse_request({"query": ["x"] * 70000})
