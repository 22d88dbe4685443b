"""Following a running `debate run` turn by turn: its event log, the follower's reading
of it, and `debate watch --follow` on a real run against llm-katan."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from conftest import DEBATE
from katan import KatanFactory, katan_fixture  # noqa: F401

from debate.core.event_log import LIVE, EventLog, event_from_json
from debate.core.events import (
    Event,
    TurnFinished,
    UnitFailed,
    UnitFinished,
    UnitStarted,
    VerdictGiven,
)
from debate.live.watch import live_events


def test_log_lines_round_trip_to_the_same_events(tmp_path: Path) -> None:
    events: list[Event] = [
        UnitStarted("u1", "debate", "Q?", ("yes", "no"), ("debater_a", "judge"), 2),
        TurnFinished("u1", 1, "debater_a", "Alice", "speech", "Text", (("q", True),), 7),
        VerdictGiven("u1", 2, "judge", (0.25, 0.75), True, True, 1),
        UnitFailed("u2", "server down"),
    ]
    log = EventLog(tmp_path)
    for event in events:
        log(event)
    log(UnitFinished("u1", {"id": "u1", "big": "record"}))
    log.close()
    header, *lines = [json.loads(line) for line in (tmp_path / LIVE).read_text().splitlines()]
    assert header["type"] == "LogStarted" and len(header["log"]) == 32
    assert [event_from_json(line) for line in lines[:-1]] == events
    assert lines[-1] == {"type": "UnitFinished", "unit": "u1"}  # the record stays out
    assert event_from_json(lines[-1], {"id": "u1"}) == UnitFinished("u1", {"id": "u1"})
    log.remove()
    assert not (tmp_path / LIVE).exists()


def test_follower_reads_the_log_then_replays_what_it_missed_at_the_end(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.yaml").write_text("protocol: debate\n")
    record = {
        "id": "u2",
        "protocol": "debate",
        "question": "Q2?",
        "answers": ["a", "b"],
        "messages": [
            {"index": 0, "round": 1, "role": "debater_a", "speaker": "A", "text": "Hi there"}
        ],
        "final_verdict": {"valid": True, "probs": [0.6, 0.4], "chosen": 0},
        "correct_index": 0,
    }
    log = EventLog(run)
    log(UnitStarted("u1", "debate", "Q1?", ("a", "b"), ("debater_a",), 1))
    log(TurnFinished("u1", 1, "debater_a", "A", "speech", "in flight"))
    log.close()

    def later(_seconds: float) -> None:
        steps.pop(0)()

    def u1_finishes() -> None:
        with (run / "transcripts.jsonl").open("a") as handle:  # the record comes first
            handle.write(json.dumps({**record, "id": "u1"}) + "\n")
        with (run / LIVE).open("a") as handle:
            handle.write(json.dumps({"type": "UnitFinished", "unit": "u1"}) + "\n")

    def run_ends() -> None:  # u2 finishes, the summary is written, the log removed
        with (run / "transcripts.jsonl").open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        (run / "summary.json").write_text("{}")
        (run / LIVE).unlink()

    steps = [u1_finishes, run_ends]
    events = list(live_events(run, poll=0, sleep=later))
    kinds = [(type(event).__name__, event.unit) for event in events]
    assert kinds[:3] == [("UnitStarted", "u1"), ("TurnFinished", "u1"), ("UnitFinished", "u1")]
    finished_u1 = events[2]
    assert isinstance(finished_u1, UnitFinished) and finished_u1.record["id"] == "u1"
    replayed = [kind for kind, unit in kinds[3:] if unit == "u2"]
    assert replayed[0] == "UnitStarted" and replayed[-1] == "UnitFinished"
    assert "TurnFinished" in replayed and "VerdictGiven" in replayed
    assert steps == []


def test_watch_follows_a_real_run_turn_by_turn(tmp_path: Path, katan: KatanFactory) -> None:
    server = katan(latency_ms=250)
    out = tmp_path / "run"
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "NO_COLOR": "1", "TERM": "dumb"}
    runner = subprocess.Popen(
        [DEBATE, "run", "debate", "--model", "openai/katan-echo", "--model-base-url",
         f"debater_a={server.base_url}", "--model-base-url", f"debater_b={server.base_url}",
         "--model-base-url", f"judge={server.base_url}", "--limit", "3", "--concurrency", "1",
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (out / LIVE).exists():
            assert runner.poll() is None, runner.communicate()
            assert time.monotonic() < deadline, "the run never started its event log"
            time.sleep(0.05)
        watcher = subprocess.Popen(
            [DEBATE, "watch", str(out), "--plain", "--idle-timeout", "120"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert watcher.stdout is not None
        lines: list[str] = []
        in_flight_turn_seen = False
        for line in watcher.stdout:
            lines.append(line)
            if " round " in line and not (out / "summary.json").exists():
                in_flight_turn_seen = True  # a turn shown while the run still ran
        watcher.wait(timeout=60)
        runner_out, runner_err = runner.communicate(timeout=120)
    finally:
        runner.kill()
    assert runner.returncode == 0, runner_err
    assert watcher.returncode == 0, watcher.stderr.read() if watcher.stderr else ""
    assert in_flight_turn_seen
    records = [json.loads(line) for line in (out / "transcripts.jsonl").read_text().splitlines()]
    done = [line for line in lines if " done: " in line]
    assert len(done) == len(records) == 6  # 3 questions in both answer orders
    assert "judge accuracy" in "".join(lines)  # the follower ends with the summary
    assert not (out / LIVE).exists()  # removed once the run ended normally


def test_a_resumed_runs_new_log_is_read_from_its_start(tmp_path: Path) -> None:
    from debate.live.watch import _Tail

    first = EventLog(tmp_path)
    for number in range(5):
        first(UnitFailed(f"old{number}", "killed"))
    first.close()
    tail = _Tail(tmp_path / LIVE)
    assert [line.get("unit") for line in tail.read()] == [None] + [f"old{n}" for n in range(5)]
    second = EventLog(tmp_path)  # the resume: a new file, longer than the old one already
    for number in range(8):
        second(UnitFailed(f"new{number}", "again"))
    second.close()
    assert [line.get("unit") for line in tail.read()] == [None] + [f"new{n}" for n in range(8)]
