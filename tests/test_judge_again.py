"""`debate judge`: stored debates judged again with the judge's view rebuilt, no debater calls."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from katan import KatanFactory, katan_fixture  # noqa: F401

from debate.bench.judging import JudgeSettings, judge_again
from debate.bench.rejudge import load_source
from debate.core.engine import Engine, ModelBindings, plan_units
from debate.core.loading import load_protocol
from debate.core.scenarios import Scenario
from debate.core.store import RunStore, load_run
from debate.models.base import ChatMessage, GenerateConfig
from debate.models.scripted import ScriptedModel

STORY = (
    "The lighthouse keeper counted forty-two ships that winter. "
    "None of them carried the letter Mara was waiting for."
)


def scenarios(n: int) -> list[Scenario]:
    return [
        Scenario(
            id=f"s{i}",
            question=f"How many ships did the keeper count in story {i}?",
            answers=["forty-two", "seven"],
            correct_index=0,
            story=STORY,
        )
        for i in range(n)
    ]


Chat = tuple[tuple[str, str], ...]


class Recorder:
    """Scripted models that log every chat they get, by name."""

    def __init__(self) -> None:
        self.chats: dict[str, list[Chat]] = defaultdict(list)

    def responder(self, name: str, verdict: str = "Answer: A") -> Any:
        def reply(messages: Sequence[ChatMessage], config: GenerateConfig) -> str:
            self.chats[name].append(tuple((m.role, m.content) for m in messages))
            if config.choices:
                return verdict
            if name.startswith("judge"):
                return f"Which page says so? (turn {len(self.chats[name])})"
            turn = len(self.chats[name])
            return f"{name}: the story says <quote>forty-two ships</quote>, turn {turn}."

        return reply

    def model(self, name: str, verdict: str = "Answer: A") -> ScriptedModel:
        return ScriptedModel(name=name, responder=self.responder(name, verdict))


def make_run(
    directory: Path, protocol: str, items: list[Scenario], models: dict[str, ScriptedModel]
) -> None:
    """A source run directory as `debate run` writes it, with the given model per role."""
    bundle = load_protocol(protocol)
    bindings = ModelBindings({}, default="scripted")
    for role, model in models.items():
        bindings._models[(role, None)] = model
        bindings.bindings[role] = role
    store = RunStore(directory)
    store.write_spec(
        {
            "protocol": bundle.protocol.name,
            "seed": 0,
            "scenarios": "inline (not loadable again)",
            "models": {role: model.name for role, model in models.items()},
            "resolved": bundle.resolved(),
        }
    )
    engine = Engine(bundle, bindings, store=store)
    asyncio.run(engine.run(plan_units(bundle, items)))
    store.close()
    assert not engine.failures


def verdict_chats(chats: list[Chat]) -> list[Chat]:
    return sorted(chat for chat in chats if "Which answer is correct?" in chat[-1][1])


def test_judge_sees_the_same_view_and_no_debater_is_called(tmp_path: Path) -> None:
    recorder = Recorder()
    models = {role: recorder.model(role) for role in ("debater_a", "debater_b", "judge")}
    make_run(tmp_path / "src", "debate", scenarios(3), models)
    debater_calls = {role: len(recorder.chats[role]) for role in ("debater_a", "debater_b")}
    assert debater_calls == {"debater_a": 18, "debater_b": 18}  # 3 questions x 2 orders x 3

    settings = JudgeSettings(model_options={"responder": recorder.responder("new", "Answer: B")})
    summary = judge_again(load_source(tmp_path / "src"), "scripted/new", tmp_path / "new", settings)

    # no debater was asked anything; the new judge once per unit, nothing else
    assert {role: len(recorder.chats[role]) for role in debater_calls} == debater_calls
    assert len(recorder.chats["new"]) == 6
    records, failures = load_run(tmp_path / "new")
    assert not failures and len(records) == 6
    for record in records:
        assert set(record["usage"]) == {"judge"} and record["usage"]["judge"]["calls"] == 1
        assert record["source_unit"] == record["id"]
        assert record["source_run"] == str((tmp_path / "src").resolve())
        assert record["models"] == {"debater_a": "debater_a", "debater_b": "debater_b",
                                    "judge": "scripted/new"}  # fmt: skip
        assert record["correct"] is (record["correct_index"] == 1)  # the new judge says B
    assert summary["n_units"] == 6 and summary["judge_accuracy"] == 0.5
    # the same view as the judge of the run: hidden story, checked quotes marked
    assert verdict_chats(recorder.chats["new"]) == verdict_chats(recorder.chats["judge"])
    shown = "\n".join(text for chat in recorder.chats["new"] for _, text in chat)
    assert "lighthouse keeper" not in shown and "<quote>" not in shown
    assert "<v_quote>forty-two ships</v_quote>" in shown
    source_ids = {r["id"] for r in load_run(tmp_path / "src")[0]}
    assert {r["id"] for r in records} == source_ids


def test_consultancy_is_judged_on_the_recorded_questions(tmp_path: Path) -> None:
    recorder = Recorder()
    models = {"consultant": recorder.model("consultant"), "judge": recorder.model("judge")}
    make_run(tmp_path / "src", "consultancy", scenarios(2), models)
    asked = [m for r in load_run(tmp_path / "src")[0] for m in r["messages"]]
    questions = {m["text"] for m in asked if m["kind"] == "question"}
    assert len(questions) >= 2
    settings = JudgeSettings(model_options={"responder": recorder.responder("new")})
    judge_again(load_source(tmp_path / "src"), "scripted/new", tmp_path / "new", settings)
    assert len(recorder.chats["new"]) == 4  # one verdict per unit, no question asked
    for chat in recorder.chats["new"]:
        own_turns = [text for role, text in chat if role == "assistant"]
        assert len(own_turns) == 2 and set(own_turns) <= questions  # the recorded questions
    assert verdict_chats(recorder.chats["new"]) == verdict_chats(recorder.chats["judge"])


def test_intermediate_verdicts_are_given_where_they_were(tmp_path: Path) -> None:
    protocol = tmp_path / "feedback-debate.yaml"
    protocol.write_text(
        "name: feedback-debate\n"
        "roles:\n"
        "  debater_a: {agent: debater, defends: 0}\n"
        "  debater_b: {agent: debater, defends: 1}\n"
        "  judge: {judge: qa-judge}\n"
        "hidden_from: {story: [judge]}\n"
        "rounds:\n"
        "  - speak: [debater_a, debater_b]\n"
        "  - verdict: judge\n"
        "  - speak: [debater_a, debater_b]\n"
        "verdict: judge\n"
    )
    recorder = Recorder()
    models = {role: recorder.model(role) for role in ("debater_a", "debater_b", "judge")}
    make_run(tmp_path / "src", str(protocol), scenarios(2), models)
    settings = JudgeSettings(model_options={"responder": recorder.responder("new")})
    judge_again(load_source(tmp_path / "src"), "scripted/new", tmp_path / "new", settings)
    source = {r["id"]: r for r in load_run(tmp_path / "src")[0]}
    for record in load_run(tmp_path / "new")[0]:
        before = source[record["id"]]["verdicts"]
        after = record["verdicts"]
        assert (
            [(v["final"], v["round"], v["at_message"]) for v in after]
            == [(v["final"], v["round"], v["at_message"]) for v in before]
            == [(False, 1, 2), (True, 2, 4)]
        )
    assert verdict_chats(recorder.chats["new"]) == verdict_chats(recorder.chats["judge"])


def test_a_judge_that_sees_the_story_gets_it_from_the_scenario_source(tmp_path: Path) -> None:
    data = tmp_path / "items.jsonl"
    rows = [
        {"id": f"q{i}", "question": f"Count in story {i}?", "answers": ["forty-two", "seven"],
         "correct_index": 0, "story": STORY}
        for i in range(2)
    ]  # fmt: skip
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "src"
    done = run_cli("run", "oracle-qa", "--scenarios", str(data), "--model", "scripted",
                   "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    recorder = Recorder()
    settings = JudgeSettings(model_options={"responder": recorder.responder("new")})
    judge_again(load_source(out), "scripted/new", tmp_path / "new", settings)
    assert len(recorder.chats["new"]) == 4
    assert all("lighthouse keeper" in chat[0][1] for chat in recorder.chats["new"])
    data.unlink()  # the story is gone: a judge that needs it cannot be rebuilt
    again = run_cli("judge", str(out), "--judge", "scripted/x", "--out", str(tmp_path / "x"))
    assert again.returncode == 2 and "sees the story" in again.stderr
    assert "Traceback" not in again.stderr


def test_cli_limit_resume_report_and_errors(tmp_path: Path) -> None:
    src = tmp_path / "src"
    done = run_cli("run", "debate", "--model", "scripted", "--limit", "3", "--out", str(src))
    assert done.returncode == 0, done.stderr
    out = tmp_path / "judged"
    args = ["judge", str(src), "--judge", "scripted/j1", "--judge", "p=scripted/a,scripted/b",
            "--out", str(out)]  # fmt: skip
    first = run_cli(*args, "--limit", "1")
    assert first.returncode == 0, first.stderr
    assert len(load_run(out / "scripted-j1")[0]) == 2  # one question, both orders
    again = run_cli(*args)
    assert again.returncode == 2 and "--resume" in again.stderr
    same = run_cli(*args, "--limit", "1", "--resume")
    assert same.returncode == 0, same.stderr
    assert len(load_run(out / "scripted-j1")[0]) == 2
    more = run_cli(*args, "--resume")  # more units: another experiment, as in `debate run`
    assert more.returncode == 2 and "units differ" in more.stderr
    resumed = run_cli(*args, "--resume", "--force")
    assert resumed.returncode == 0, resumed.stderr
    for label in ("scripted-j1", "p"):
        records = load_run(out / label)[0]
        assert sorted(r["id"] for r in records) == sorted(r["id"] for r in load_run(src)[0])
    panel = load_run(out / "p")[0][0]["final_verdict"]
    assert panel["method"] == "panel" and len(panel["panel"]["members"]) == 2
    study = json.loads((out / "judges.json").read_text())
    assert study["n_shared_units"] == 6 and set(study["accuracy"]) == {"scripted-j1", "p"}
    assert study["paired"][0]["n"] == 6
    chained = run_cli(
        "judge", str(out / "p"), "--judge", "scripted/q", "--out", str(tmp_path / "c")
    )
    assert chained.returncode == 2 and "--judge-spec" in chained.stderr  # p is a fixed panel
    chained = run_cli("judge", str(out / "p"), "--judge", "scripted/q", "--judge-spec",
                      "qa-judge", "--out", str(tmp_path / "c"))  # fmt: skip
    assert chained.returncode == 0, chained.stderr
    again_judged = load_run(tmp_path / "c" / "scripted-q")[0]
    assert {r["final_verdict"]["method"] for r in again_judged} == {"logprobs"}
    assert again_judged[0]["source_run"] == str((out / "p").resolve())
    report = run_cli("report", str(out / "p"))
    assert report.returncode == 0 and "judge accuracy" in report.stdout
    other = run_cli("judge", str(src), "--judge", "scripted-j1=scripted/zz", "--out", str(out),
                    "--resume")  # fmt: skip
    assert other.returncode == 2 and "judged from something else" in other.stderr
    for bad, reason in (
        (["judge", str(tmp_path / "nope"), "--judge", "scripted", "--out", str(out / "z")],
         "not a run directory"),
        (["judge", str(src), "--judge", "scripted", "--out", str(out / "z"), "--aggregate",
          "median"], "--aggregate"),
    ):  # fmt: skip
        failed = run_cli(*bad)
        assert failed.returncode == 2 and reason in failed.stderr
        assert "Traceback" not in failed.stderr and len(failed.stderr.strip().splitlines()) == 1


def test_protocols_without_a_verdict_cannot_be_judged_again(tmp_path: Path) -> None:
    src = tmp_path / "src"
    done = run_cli("run", "society-of-minds", "--model", "scripted", "--limit", "1",
                   "--out", str(src))  # fmt: skip
    assert done.returncode == 0, done.stderr
    failed = run_cli("judge", str(src), "--judge", "scripted", "--out", str(tmp_path / "j"))
    assert failed.returncode == 2 and "no verdict step" in failed.stderr


def _requests(base_url: str) -> int:
    """Chat requests the server answered, from its Prometheus counter."""
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics", timeout=10) as reply:
        text = reply.read().decode()
    line = next(x for x in text.splitlines() if x.startswith("llm_katan_requests_total{"))
    return int(float(line.rsplit(" ", 1)[1]))


def test_two_judges_on_a_real_server_make_no_debater_calls(
    tmp_path: Path, katan: KatanFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    debaters, judges = katan(), katan()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    src = tmp_path / "src"
    done = run_cli("run", "debate", "--model", "debater=openai/katan-echo", "--model",
                   "judge=scripted", "--model-base-url", f"debater={debaters.base_url}",
                   "--limit", "2", "--out", str(src))  # fmt: skip
    assert done.returncode == 0, done.stderr
    debater_requests = _requests(debaters.base_url)
    assert debater_requests == 24  # 2 questions x 2 orders x 6 speeches
    out = tmp_path / "judged"
    judged = run_cli("judge", str(src), "--judge", "echo=openai/katan-echo", "--judge",
                     "scripted/j2", "--model-base-url", f"echo={judges.base_url}",
                     "--out", str(out))  # fmt: skip
    assert judged.returncode == 0, judged.stderr
    assert _requests(debaters.base_url) == debater_requests  # not one debater call
    echo = load_run(out / "echo")[0]
    calls = sum(r["usage"]["judge"]["calls"] for r in echo)
    assert calls >= 4 and _requests(judges.base_url) == calls  # the judge's calls, all of them
    assert all(set(r["usage"]) == {"judge"} for r in echo)
    study = json.loads((out / "judges.json").read_text())
    assert study["n_shared_units"] == 4
    assert {label: e["n"] for label, e in study["accuracy"].items()} == {
        "echo": 4,
        "scripted-j2": 4,
    }
    assert "judges on the same 4 units" in judged.stdout
    assert os.path.exists(out / "echo" / "summary.json")


def test_a_malformed_record_is_one_line(tmp_path: Path) -> None:
    src = tmp_path / "src"
    done = run_cli("run", "direct-qa", "--model", "scripted", "--limit", "1", "--out", str(src))
    assert done.returncode == 0, done.stderr
    lines = (src / "transcripts.jsonl").read_text().splitlines()
    (src / "transcripts.jsonl").write_text(lines[0] + "\n" + json.dumps({"id": "x"}) + "\n")
    failed = run_cli("judge", str(src), "--judge", "scripted", "--out", str(tmp_path / "j"))
    assert failed.returncode == 2 and "line 2: missing 'scenario_id'" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
