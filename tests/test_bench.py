"""Benchmark sweeps, per-cell metrics, debater ratings and best-of-N speeches.

Metric use is pinned on small hand-made records whose figures are worked out by hand;
sweeps, resumption, tournaments and best-of-N run the real engine with scripted models.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from conftest import ROOT, run_cli

from debate.analysis.metrics import accuracy
from debate.analysis.ratings import bradley_terry
from debate.bench.experiment import Experiment, load_experiment, plan_cells
from debate.bench.report import cell_metrics, debater_ratings, match_outcomes
from debate.errors import DebateInputError
from debate.models.base import ChatMessage, Completion, GenerateConfig
from debate.models.scripted import ScriptedModel


def record(
    scenario: str,
    swap: bool,
    probs: list[float] | None,
    correct_index: int,
    defends: dict[str, int | None] | None = None,
) -> dict[str, Any]:
    """A unit record as the engine writes it (only the fields metrics read)."""
    valid = probs is not None
    chosen = None
    if probs is not None:
        top = max(probs)
        chosen = probs.index(top) if probs.count(top) == 1 else None
    return {
        "id": f"p/{scenario}/{'swap' if swap else 'orig'}",
        "scenario_id": scenario,
        "swap": swap,
        "variant": {},
        "repeat": 0,
        "answers": ["x", "y"] if not swap else ["y", "x"],
        "correct_index": correct_index,
        "defends": defends or {"judge": None},
        "final_verdict": {"valid": valid, "probs": probs, "chosen": chosen},
        "correct": bool(valid and probs and probs[correct_index] > 0.5),
    }


# Two questions, both orders. q1: right in both orders (0.9 then 0.7 on the correct answer);
# q2: picks answer "x" in both orders, which is wrong in the swapped order... see below.
RECORDS = [
    record("q1", False, [0.9, 0.1], 0),  # correct at A, chosen "x", right
    record("q1", True, [0.3, 0.7], 1),  # correct at B, chosen "x" (B of [y, x]), right
    record("q2", False, [0.8, 0.2], 1),  # correct at B, chosen "x", wrong
    record("q2", True, None, 0),  # invalid verdict: counts as wrong
]


def test_cell_metrics_match_hand_computed_values() -> None:
    metrics = cell_metrics(RECORDS, resamples=2000)
    assert metrics["accuracy"]["value"] == 0.5
    assert metrics["accuracy"]["n"] == 4
    # Questions are resampled whole: q1 contributes (1, 1), q2 (0, 0); two clusters give a
    # mean of 0, 0.5 or 1 with chances 1/4, 1/2, 1/4, so the 95% interval is [0, 1].
    assert metrics["accuracy"]["ci95"] == [0.0, 1.0]
    assert metrics["invalid_rate"]["value"] == 0.25
    assert metrics["accuracy_by_correct_position"]["A"]["value"] == 0.5  # q1 orig ok, q2 swap bad
    assert metrics["accuracy_by_correct_position"]["B"]["value"] == 0.5  # q1 swap ok, q2 orig bad
    # Only q1 has valid verdicts in both orders, and it chose "x" both times.
    assert metrics["swap_disagreement"]["value"] == 0.0
    assert metrics["swap_disagreement"]["n"] == 1
    # Brier of p(correct) over the 3 valid verdicts: (0.1² + 0.3² + 0.8²) / 3.
    assert metrics["brier"]["value"] == pytest.approx((0.01 + 0.09 + 0.64) / 3)
    assert metrics["brier"]["n"] == 3
    # ECE, 10 bins: confidences 0.9 (right), 0.7 (right), 0.8 (wrong) sit in three bins:
    # (|1-0.9| + |1-0.7| + |0-0.8|) / 3.
    assert metrics["ece"]["value"] == pytest.approx((0.1 + 0.3 + 0.8) / 3)
    counts = {round(b["lo"], 1): b["count"] for b in metrics["reliability"]}
    assert counts[0.7] == counts[0.8] == counts[0.9] == 1
    assert "accuracy_by_defended" not in metrics  # no consultant


def test_swap_disagreement_compares_answers_not_labels() -> None:
    # Picks label A in both orders: that is a different answer each time.
    flips = [record("q", False, [0.6, 0.4], 0), record("q", True, [0.6, 0.4], 1)]
    assert cell_metrics(flips, resamples=200)["swap_disagreement"]["value"] == 1.0


def test_accuracy_ci_resamples_questions_like_the_metrics_module() -> None:
    rows = [record(f"q{i // 2}", i % 2 == 1, [0.7, 0.3], (i * 7 // 3) % 2) for i in range(12)]
    expected = accuracy(
        [r["correct"] for r in rows], clusters=[r["scenario_id"] for r in rows], seed=0
    )
    got = cell_metrics(rows)["accuracy"]
    assert got["ci95"] == list(expected.ci95 or ())
    assert got["value"] == expected.value


def test_consultancy_split_by_defended_answer() -> None:
    rows = [
        record("a", False, [0.9, 0.1], 0, {"consultant": 0, "judge": None}),  # defends right, ok
        record("b", False, [0.9, 0.1], 1, {"consultant": 0, "judge": None}),  # defends wrong, bad
        record("c", False, [0.2, 0.8], 1, {"consultant": 0, "judge": None}),  # defends wrong, ok
    ]
    split = cell_metrics(rows, resamples=200)["accuracy_by_defended"]
    assert split["correct"]["value"] == 1.0 and split["correct"]["n"] == 1
    assert split["incorrect"]["value"] == 0.5 and split["incorrect"]["n"] == 2


def _game(p_first: float, swap: bool) -> dict[str, Any]:
    """One debate unit: the judge's probability for seat debater_a's answer is p_first."""
    a_defends = 1 if swap else 0
    probs = [p_first, 1 - p_first] if a_defends == 0 else [1 - p_first, p_first]
    return record("q", swap, probs, 0, {"debater_a": a_defends, "debater_b": 1 - a_defends})


def test_elo_on_a_known_tournament() -> None:
    # X beats Y outright, then Y beats Z outright: sequential Elo, k = 32, from 1000.
    games = [("X", "Y", [_game(1.0, False)]), ("Y", "Z", [_game(1.0, True)])]
    result = debater_ratings(games, ("debater_a", "debater_b"), resamples=200)
    elo = {name: entry["elo"]["value"] for name, entry in result["ratings"].items()}
    # X vs Y: expected 0.5, so X 1016 and Y 984. Y (984) vs Z (1000): expected
    # 1 / (1 + 10^(16/400)) and Y gains 32 (1 - expected).
    expected_y = 1 / (1 + 10 ** (16 / 400))
    assert elo["X"] == pytest.approx(1016.0)
    assert elo["Y"] == pytest.approx(984 + 32 * (1 - expected_y))
    assert elo["Z"] == pytest.approx(1000 - 32 * (1 - expected_y))
    assert result["n_matches"] == 2


def test_match_outcomes_follow_the_seat_through_swaps() -> None:
    games = [("X", "Y", [_game(0.8, False), _game(0.6, True)]), ("Y", "X", [_game(0.3, False)])]
    matches = match_outcomes(games, ("debater_a", "debater_b"))
    assert matches == [("X", "Y", 0.8), ("X", "Y", pytest.approx(0.6)), ("Y", "X", 0.3)]
    result = debater_ratings(games, ("debater_a", "debater_b"), resamples=300)
    fitted = bradley_terry(matches)
    for name in ("X", "Y"):
        entry = result["ratings"][name]["bradley_terry"]
        assert entry["value"] == pytest.approx(fitted[name])
        assert entry["ci95"][0] <= entry["value"] <= entry["ci95"][1]
        assert entry["n"] == 3
    assert result["ratings"]["X"]["bradley_terry"]["value"] > 1000


def test_experiment_labels_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(
        "protocols: [debate, direct-qa]\njudges: [scripted, openai/gpt-x]\n"
        "debaters: {strong: scripted/a, weak: scripted/b}\nseeds: 3\n"
    )
    experiment = load_experiment(path)
    assert experiment.name == "e"
    assert experiment.judges == {"scripted": "scripted", "openai-gpt-x": "openai/gpt-x"}
    assert experiment.seeds == [3]
    cells = plan_cells(experiment, tmp_path / "out")
    # debate: 2 judges x 2 debaters; direct-qa has no speakers: 2 judges.
    assert len(cells) == 6
    debate_cell = next(c for c in cells if c.protocol == "debate" and c.debaters == "weak")
    assert debate_cell.bindings["debater_a"] == "scripted/b"
    assert debate_cell.bindings["judge"] in ("scripted", "openai/gpt-x")
    path.write_text("protocols: [debate]\njudge: [x]\n")
    with pytest.raises(DebateInputError, match=r"e\.yaml: judge: Extra inputs"):
        load_experiment(path)
    with pytest.raises(DebateInputError, match="protocols"):
        plan_cells(Experiment(), tmp_path)


def test_bench_cli_sweep_report_plots_and_resume(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    args = ["bench", "-p", "debate", "-p", "consultancy", "-p", "direct-qa", "-j", "scripted"]
    args += ["-j", "other=scripted/other", "--limit", "3", "--out", str(out)]
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "bench.json").read_text())
    assert len(result["cells"]) == 6
    assert {(g["protocol"], g["judge"]) for g in result["pooled"]} == {
        (p, j) for p in ("debate", "consultancy", "direct-qa") for j in ("scripted", "other")
    }
    for cell in result["cells"]:
        lines = (Path(cell["dir"]) / "transcripts.jsonl").read_text().splitlines()
        rows = [json.loads(line) for line in lines]
        assert len(rows) == 6  # 3 questions x 2 orders
        assert cell["metrics"]["accuracy"]["value"] == pytest.approx(
            sum(bool(r["correct"]) for r in rows) / 6
        )
        if cell["protocol"] == "consultancy":
            assert "accuracy_by_defended" in cell["metrics"]
    report = (out / "report.md").read_text()
    assert "| consultancy | other |" in report
    assert {p.name for p in (out / "plots").iterdir()} == {"accuracy.png", "reliability.png"}
    again = run_cli(*args)
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = run_cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    first = result["cells"][0]
    assert len((Path(first["dir"]) / "transcripts.jsonl").read_text().splitlines()) == 6


def test_tournament_round_robin_and_swiss(tmp_path: Path) -> None:
    experiment = {
        "name": "t",
        "protocols": ["direct-qa"],
        "limit": 2,
        "tournament": {
            "format": "round-robin",
            "limit": 2,
            "self_play": True,
            "debaters": [
                {"name": "a", "model": "scripted/a"},
                {"name": "b", "model": "scripted/b"},
                {"name": "c", "model": "scripted/c", "agent": "consultant"},
            ],
        },
    }
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(experiment))
    done = run_cli("bench", str(path), "--out", str(tmp_path / "rr"))
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "rr" / "bench.json").read_text())
    matches = sorted(
        p.name for p in (tmp_path / "rr" / "tournament").iterdir() if "--vs--" in p.name
    )
    # 3 pairs x 2 seatings + 3 self-play games
    assert len(matches) == 9
    ratings = result["tournament"]["ratings"]
    assert set(ratings) == {"a", "b", "c"}
    assert all(r["judge_accuracy_from"] == "self-play" for r in ratings.values())
    # every non-self-play unit with a valid verdict is a match: 6 games x 2 questions x 2 orders
    assert result["tournament"]["n_matches"] == 24
    declared = yaml.safe_load(
        (tmp_path / "rr" / "tournament" / "_declarations" / "protocol-a-vs-c.yaml").read_text()
    )
    agent = yaml.safe_load(Path(declared["roles"]["debater_b"]["agent"]).read_text())
    assert agent["name"] == "consultant"
    assert {p.name for p in (tmp_path / "rr" / "plots").iterdir()} >= {
        "ratings.png",
        "accuracy_vs_rating.png",
    }
    experiment["tournament"].update(format="swiss", rounds=2, self_play=False, both_seats=False)
    experiment["tournament"]["debaters"].append({"name": "d", "model": "scripted/d"})
    path.write_text(yaml.safe_dump(experiment))
    done = run_cli("bench", str(path), "--out", str(tmp_path / "swiss"))
    assert done.returncode == 0, done.stderr
    names = sorted(
        p.name for p in (tmp_path / "swiss" / "tournament").iterdir() if "--vs--" in p.name
    )
    assert [n[:3] for n in names] == ["r1-", "r1-", "r2-", "r2-"]
    pairs = [frozenset(n[3:].split("--vs--")) for n in names]
    assert len(set(pairs)) == 4  # round 2 avoids rematches


# ---------------------------------------------------------------- best-of-N


def _best_of_bundle(tmp_path: Path, n: int) -> Any:
    from debate.core.loading import load_protocol

    agent = yaml.safe_load((ROOT / "agents" / "debater.yaml").read_text())
    agent.update(best_of=n, name="debater", temperature=0.0)  # greedy: candidates at 0.8
    (tmp_path / "agent.yaml").write_text(yaml.safe_dump(agent))
    protocol = yaml.safe_load((ROOT / "protocols" / "debate.yaml").read_text())
    protocol["roles"]["debater_a"]["agent"] = str(tmp_path / "agent.yaml")
    protocol["rounds"] = [{"speak": ["debater_a", "debater_b"]}]
    protocol["swap"] = False
    (tmp_path / "protocol.yaml").write_text(yaml.safe_dump(protocol))
    return load_protocol(str(tmp_path / "protocol.yaml"))


def test_best_of_n_keeps_the_candidate_the_judge_finds_most_convincing(tmp_path: Path) -> None:
    from debate.core.bestof import best_of_n
    from debate.core.engine import Engine, ModelBindings, plan_units
    from debate.core.scenarios import load_scenarios
    from debate.core.steps import Speak

    bundle = _best_of_bundle(tmp_path, 4)
    hooked = "best_of" in inspect.getsource(Speak.generate)
    if not hooked:  # until the speak step consults best_of: the same call through a subclass

        class BestSpeak(Speak):
            async def generate(self, ctx: Any, role: str, instruction: str, chat: Any) -> Any:
                spec = ctx.roles[role].spec
                if spec.best_of > 1:
                    return await best_of_n(ctx, role, instruction, chat, spec)
                return await super().generate(ctx, role, instruction, chat)

        bundle.steps = [BestSpeak(speak=["debater_a", "debater_b"])]

    drafts = iter(["calm point", "strong point", "weak point", "strong point again"])
    temperatures: list[float] = []

    def debater(messages: list[ChatMessage], config: GenerateConfig) -> str:
        temperatures.append(config.temperature)
        return next(drafts) if "Debater A" in messages[0].content else "B speaks"

    def judge(messages: list[ChatMessage], config: GenerateConfig) -> Completion:
        text = messages[-1].content
        # favours A when debater A's latest words say "strong" (more "strong"s, more so)
        last_a = text.rsplit("Debater A:", 1)[-1].split("\n\n")[0]
        lean = 0.5 + 0.1 * last_a.count("strong") + 0.05 * last_a.count("again")
        logprobs = {"A": float(np.log(lean)), "B": float(np.log(1 - lean))}
        return Completion(text="Answer: A", model="judge", choice_logprobs=logprobs)

    models = {"debater": ScriptedModel("d", debater), "judge": ScriptedModel("j", judge)}

    def wrap(model: Any) -> Any:
        return models["judge" if model.name == "scripted/judge" else "debater"]

    bindings = ModelBindings({"judge": "scripted/judge"}, default="scripted", wrap=wrap)
    scenarios = load_scenarios("truthfulqa-sample", limit=1)
    engine = Engine(bundle, bindings, concurrency=1)
    records = asyncio.run(engine.run(plan_units(bundle, scenarios, swap=False)))
    message = records[0]["messages"][0]
    assert message["role"] == "debater_a"
    opening = message["meta"]["opening"]  # the shipped debater's stance, before each reply
    assert message["text"] == f"{opening} strong point again"
    meta = message["meta"]["best_of"]
    replies = ["calm point", "strong point", "weak point", "strong point again"]
    assert meta["candidates"] == [f"{opening} {reply}" for reply in replies]
    assert meta["scores"] == pytest.approx([0.5, 0.6, 0.5, 0.65])
    assert meta["chosen"] == 3 and meta["n"] == 4 and meta["scorer"] == "judge"
    assert temperatures[:4] == [0.8] * 4  # greedy agents sample candidates at 0.8
    assert "best_of" not in records[0]["messages"][1].get("meta", {})  # debater_b: best_of 1


@pytest.mark.slow
def test_bench_with_the_embedded_model_as_judge(tmp_path: Path) -> None:
    done = run_cli(
        "bench", "-p", "direct-qa", "-j", "local", "--limit", "1", "--out", str(tmp_path / "b")
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "b" / "bench.json").read_text())
    (cell,) = result["cells"]
    assert cell["metrics"]["accuracy"]["n"] == 2
    assert cell["metrics"]["invalid_rate"]["value"] is not None


def test_judges_share_debates_generated_once(tmp_path: Path) -> None:
    experiment = tmp_path / "three-judges.yaml"
    experiment.write_text(
        "protocols: [debate, direct-qa]\n"
        "judges: [scripted/j1, scripted/j2, scripted/j3]\n"
        "limit: 2\n"
    )
    out = tmp_path / "shared"
    done = run_cli("bench", str(experiment), "--out", str(out))
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "bench.json").read_text())
    debate_cells = [c for c in result["cells"] if c["protocol"] == "debate"]
    first, *others = debate_cells
    assert first["judged_from"] is None and len(others) == 2
    runs = {c["judge"]: [json.loads(x) for x in (Path(c["dir"]) / "transcripts.jsonl")
                         .read_text().splitlines()] for c in debate_cells}  # fmt: skip
    made = {r["id"]: r["messages"] for r in runs["scripted-j1"]}
    for cell in others:
        assert cell["judged_from"] == first["dir"] and cell["judge_model"].startswith("scripted/")
        for record in runs[cell["judge"]]:
            assert record["messages"] == made[record["id"]]  # the same debates
            assert set(record["usage"]) == {"judge"}  # no debater call
    # 2 questions x 2 orders x 6 speeches, once instead of once per judge
    assert result["debater_calls"] == {"made": 24, "without_reuse": 72}
    pairs = {(p["protocol"], p["a"], p["b"]): p for p in result["paired"]["judges"]}
    assert len(pairs) == 6 and pairs[("debate", "scripted-j1", "scripted-j2")]["n"] == 4
    row = pairs[("debate", "scripted-j1", "scripted-j3")]
    accuracy = {j: sum(bool(r["correct"]) for r in rs) / 4 for j, rs in runs.items()}
    assert row["difference"]["value"] == pytest.approx(accuracy["scripted-j1"]
                                                       - accuracy["scripted-j3"])  # fmt: skip
    protocols = result["paired"]["protocols"]
    assert {(p["judge"], p["a"], p["b"]) for p in protocols} == {
        (j, "debate", "direct-qa") for j in ("scripted-j1", "scripted-j2", "scripted-j3")
    }
    report = (out / "report.md").read_text()
    assert "## Judges on the same debates (paired)" in report
    assert "Debater calls: 24 made by this benchmark; 72 if" in report
    resumed = run_cli("bench", str(experiment), "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "bench.json").read_text())["debater_calls"]["made"] == 24

    experiment.write_text(experiment.read_text() + "reuse_debates: false\n")
    apart = tmp_path / "apart"
    done = run_cli("bench", str(experiment), "--out", str(apart))
    assert done.returncode == 0, done.stderr
    separate = json.loads((apart / "bench.json").read_text())
    assert all(c["judged_from"] is None for c in separate["cells"])
    assert separate["debater_calls"] == {"made": 72, "without_reuse": 72}
