"""`debate replay` on the shared NYU human-debate data.

The human-judge figures are recomputed here from the raw files with plain json code
(the last judge feedback that ended the debate, correct when p(correct) > 0.5), and the
model judge's view is checked: recorded speeches with verified quotes, never the story.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli, shared

from debate.models.base import ChatMessage, GenerateConfig
from debate.models.scripted import ScriptedModel


def independent_figures(folder: Path, paper_only: bool, complete_only: bool) -> dict[str, Any]:
    settings = {}
    with open(folder / "debates-metadata.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            settings[row["name"]] = row
    outcomes: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for path in sorted((folder / "official").glob("*.json")):
        meta = settings[path.stem]
        if paper_only and not meta.get("includedInPaper"):
            continue
        if complete_only and "Complete" not in meta["status"]:
            continue
        raw = json.loads(path.read_text(encoding="utf-8"))
        ended = [
            r["JudgeFeedback"]["distribution"]
            for r in raw["rounds"]
            if "JudgeFeedback" in r and r["JudgeFeedback"]["endDebate"]
        ]
        if not ended:
            continue
        right = ended[-1][raw["setup"]["correctAnswerIndex"]] > 0.5
        protocol = "debate" if meta["setting"]["isDebate"] else "consultancy"
        debaters = "human" if meta["setting"]["isHuman"] else "ai"
        outcomes[(protocol, debaters)].append(right)

    def block(debaters: tuple[str, ...]) -> dict[str, Any]:
        result: dict[str, Any] = {"human_judge_accuracy": {}, "n": {}}
        for protocol in ("debate", "consultancy"):
            values = [v for d in debaters for v in outcomes[(protocol, d)]]
            result["human_judge_accuracy"][protocol] = sum(values) / len(values)
            result["n"][protocol] = len(values)
        return result

    return {
        **block(("human", "ai")),
        "by_debaters": {"human": block(("human",)), "ai": block(("ai",))},
    }


@pytest.mark.parametrize(
    "flags", [(), ("--included-in-paper", "--status", "complete")], ids=["all", "paper"]
)
def test_human_judge_accuracy_matches_the_raw_files(flags: tuple[str, ...]) -> None:
    folder = shared("nyu_debate")
    done = run_cli("replay", str(folder), "--judge", "none", "--json", *flags)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert set(got) == {"human_judge_accuracy", "model_judge_accuracy", "n", "by_debaters"}
    assert set(got["by_debaters"]) == {"human", "ai"}
    assert got["model_judge_accuracy"] == {"debate": None, "consultancy": None}
    expected = independent_figures(folder, bool(flags), bool(flags))
    for scope, want, have in [
        ("all", expected, got),
        ("human", expected["by_debaters"]["human"], got["by_debaters"]["human"]),
        ("ai", expected["by_debaters"]["ai"], got["by_debaters"]["ai"]),
    ]:
        assert have["n"] == want["n"], scope
        for protocol in ("debate", "consultancy"):
            assert have["human_judge_accuracy"][protocol] == pytest.approx(
                want["human_judge_accuracy"][protocol]
            ), (scope, protocol)
    if flags:  # the paper's human debates and consultancies, in the part of the data we hold
        human = got["by_debaters"]["human"]
        assert human["n"] == {"debate": 96, "consultancy": 62}
        assert human["human_judge_accuracy"]["debate"] == pytest.approx(81 / 96)
        assert human["human_judge_accuracy"]["consultancy"] == pytest.approx(48 / 62)


def test_model_judge_sees_the_speeches_with_verified_quotes_and_never_the_story() -> None:
    from debate.bench.replay import ReplayOptions, replay_bundle, select_debates
    from debate.core.engine import Engine, ModelBindings, plan_units

    folder = shared("nyu_debate")
    debates = select_debates(ReplayOptions(path=folder, included_in_paper=True, limit=40))
    chosen = [
        next(s for s in debates if s.metadata["is_debate"]),
        next(s for s in debates if not s.metadata["is_debate"]),
    ]
    seen: list[list[ChatMessage]] = []

    def judge(messages: list[ChatMessage], config: GenerateConfig) -> str:
        seen.append(list(messages))
        return "Answer: A"

    bundle = replay_bundle("qa-judge")
    bindings = ModelBindings(
        {"judge": "scripted/judge"},
        default="scripted",
        wrap=lambda m: ScriptedModel("judge", judge) if m.name == "scripted/judge" else m,
    )
    engine = Engine(bundle, bindings, concurrency=1)
    records = asyncio.run(engine.run(plan_units(bundle, chosen, swap=False)))
    assert len(records) == 2 and len(seen) == 2
    for scenario, record, chat in zip(chosen, records, seen, strict=True):
        rounds = scenario.metadata["rounds"]
        speeches = [
            (key, speech)
            for item in rounds
            for kind in ("SimultaneousSpeeches", "SequentialSpeeches")
            if kind in item
            for key, speech in sorted(item[kind]["speeches"].items())
        ]
        assert len(record["messages"]) == len(speeches)
        shown = "\n".join(m.content for m in chat[1:])  # after the system prompt
        quotes = sum(1 for _, s in speeches for part in s["content"] if "Quote" in part)
        assert shown.count("<v_quote>") == quotes
        assert "<u_quote>" not in shown and "<quote>" not in shown
        story = scenario.story or ""
        middle = story[len(story) // 2 : len(story) // 2 + 300]
        assert len(middle) == 300 and middle not in shown
        assert record["correct"] == (scenario.correct_index == 0)
        if scenario.metadata["is_debate"]:
            assert shown.count("Debater A: ") == sum(1 for key, _ in speeches if key == "0")
            assert record["defends"]["debater_a"] == 0
        else:
            key = speeches[0][0]
            assert shown.count("Consultant: ") == len(speeches)
            assert record["defends"]["consultant"] == int(key)


def test_replay_cli_with_a_model_judge_writes_a_run(tmp_path: Path) -> None:
    folder = shared("nyu_debate")
    out = tmp_path / "replay"
    done = run_cli(
        "replay", str(folder), "--judge", "scripted", "--status", "complete", "--limit", "8",
        "--out", str(out), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    rows = [json.loads(line) for line in (out / "transcripts.jsonl").read_text().splitlines()]
    assert len(rows) == 8 == sum(got["n"].values())
    debate_rows = [r for r in rows if r["defends"].get("debater_a") is not None]
    if debate_rows:
        assert got["model_judge_accuracy"]["debate"] == pytest.approx(
            sum(bool(r["correct"]) for r in debate_rows) / len(debate_rows)
        )
    bad = run_cli("replay", str(tmp_path), "--judge", "none")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


@pytest.mark.slow
def test_replay_with_the_embedded_model_as_judge(tmp_path: Path) -> None:
    folder = shared("nyu_debate")
    done = run_cli(
        "replay", str(folder), "--judge", "local", "--included-in-paper", "--status",
        "complete", "--limit", "2", "--out", str(tmp_path / "r"), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert sum(got["n"].values()) == 2
    judged = [v for v in got["model_judge_accuracy"].values() if v is not None]
    assert judged and all(0.0 <= v <= 1.0 for v in judged)
    rows = (tmp_path / "r" / "transcripts.jsonl").read_text().splitlines()
    assert all(json.loads(row)["models"]["judge"] == "local" for row in rows)


def test_replay_swap_judges_both_orders_with_speakers_renamed(tmp_path: Path) -> None:
    from debate.bench.replay import ReplayOptions, replay, replay_bundle, select_debates
    from debate.core.engine import Engine, ModelBindings, plan_units

    folder = shared("nyu_debate")
    debates = select_debates(ReplayOptions(path=folder, included_in_paper=True, limit=40))
    chosen = next(s for s in debates if s.metadata["is_debate"])
    seen: list[list[ChatMessage]] = []

    def always_a(messages: list[ChatMessage], config: GenerateConfig) -> str:
        seen.append(list(messages))
        return "Answer: A"  # a judge with nothing but a position bias

    bundle = replay_bundle("qa-judge")
    bindings = ModelBindings(
        {"judge": "scripted/judge"},
        default="scripted",
        wrap=lambda m: ScriptedModel("judge", always_a) if m.name == "scripted/judge" else m,
    )
    engine = Engine(bundle, bindings, concurrency=1)
    records = asyncio.run(engine.run(plan_units(bundle, [chosen], swap=True)))
    by_swap = {r["swap"]: r for r in records}
    assert by_swap[False]["answers"] == by_swap[True]["answers"][::-1]
    assert by_swap[False]["correct"] != by_swap[True]["correct"]  # it always says A
    # the recorded first speaker defends the original answer 0, now shown second: Debater B
    first = {r["swap"]: r["messages"][0] for r in records}
    assert first[False]["text"] == first[True]["text"]
    assert first[False]["role"] == "debater_a" and first[True]["role"] == "debater_b"
    for record in records:
        assert record["defends"]["debater_a"] == 0 and record["defends"]["debater_b"] == 1
    # the figures over a few debates: position bias shows as disagreement, averages out
    result = replay(
        ReplayOptions(
            path=folder, judge="scripted", status="complete", limit=6, swap=True,
            out=tmp_path / "swap",
        )
    )  # fmt: skip
    rows = (tmp_path / "swap" / "transcripts.jsonl").read_text().splitlines()
    assert len(rows) == 2 * sum(result["n"].values())
    for protocol, n in result["n"].items():
        if not n:
            continue
        disagreement = result["model_judge_swap_disagreement"][protocol]
        assert 0.0 <= disagreement["value"] <= 1.0 and disagreement["n"] <= n
        averaged = result["model_judge_swap_averaged_accuracy"][protocol]
        assert averaged is not None and 0.0 <= averaged <= 1.0


def test_replay_swap_cli_reports_swap_averaged_figures(tmp_path: Path) -> None:
    folder = shared("nyu_debate")
    done = run_cli(
        "replay", str(folder), "--judge", "scripted", "--status", "complete", "--limit", "4",
        "--swap", "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "swap-averaged" in done.stdout and "both orders" in done.stdout
