"""The `debate` command as a user runs it: run, resume, validate, list, report, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from conftest import ROOT, run_cli, shared


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_run_truthfulqa_writes_records_summary_and_resumes(tmp_path: Path) -> None:
    data = shared("truthfulqa", "TruthfulQA.csv")
    out = tmp_path / "run"
    args = [
        "run",
        "debate",
        "--scenarios",
        str(data),
        "--model",
        "scripted",
        "--limit",
        "20",
        "--out",
        str(out),
    ]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    records = (out / "transcripts.jsonl").read_text().splitlines()
    assert len(records) == 40  # 20 questions x both answer orders
    assert len({json.loads(line)["id"] for line in records}) == 40
    summary = json.loads((out / "summary.json").read_text())
    for key in (
        "protocol",
        "n_units",
        "n_valid",
        "n_invalid",
        "judge_accuracy",
        "judge_accuracy_ci95",
    ):
        assert key in summary
    assert summary["protocol"] == "debate" and summary["n_units"] == 40
    low, high = summary["judge_accuracy_ci95"]
    assert low <= summary["judge_accuracy"] <= high
    spec = yaml.safe_load((out / "spec.yaml").read_text())
    assert spec["seed"] == 0 and spec["resolved"]["protocol"]["name"] == "debate"
    assert "judge accuracy" in first.stdout

    again = run_cli(*args, "--resume")
    assert again.returncode == 0, again.stderr
    assert (out / "transcripts.jsonl").read_text().splitlines() == records
    assert "40 already done" in again.stdout

    refused = run_cli(*args)
    assert refused.returncode == 2 and "--resume" in refused.stderr


def test_edited_copy_of_a_protocol_runs_by_path(tmp_path: Path) -> None:
    protocol = yaml.safe_load((ROOT / "protocols" / "debate.yaml").read_text())
    protocol["rounds"][1]["repeat"] = 3  # 4 rounds
    protocol["word_limit"] = 150
    path = tmp_path / "my-debate.yaml"
    path.write_text(yaml.safe_dump(protocol))
    out = tmp_path / "run"
    result = run_cli(
        "run", str(path), "--model", "scripted", "--limit", "2", "--out", str(out), "--no-swap"
    )
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "transcripts.jsonl").read_text().splitlines()[0])
    assert record["rounds"] == 4 and len(record["messages"]) == 8


def test_validate_reports_one_line_per_problem(tmp_path: Path) -> None:
    folder = tmp_path / "protocols"
    folder.mkdir()
    bad = folder / "x.yaml"
    bad.write_text(
        "name: x\nroles:\n  debater_a: {agent: debater, defends: 0}\n  judge: {judge: qa-judge}\n"
        "rounds:\n  - speak: [debater_a]\n  - speak: [debater_c]\n  - shout: [debater_a]\n"
        "verdict: judge\nswp: true\n"
    )
    result = run_cli("validate", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert lines(result.stderr) == [f"{bad}: swp: Extra inputs are not permitted"]
    del_extra = bad.read_text().replace("swp: true\n", "")
    bad.write_text(del_extra)
    result = run_cli("validate", str(bad))
    assert result.returncode == 2
    problems = lines(result.stderr)
    assert f"{bad}: rounds[1].speak: unknown role 'debater_c'" in problems
    assert any(p.startswith(f"{bad}: rounds[2]: unknown step type (shout)") for p in problems)
    assert len(problems) == 2


def test_validate_yaml_syntax_and_unknown_agent(tmp_path: Path) -> None:
    folder = tmp_path / "protocols"
    folder.mkdir()
    broken = folder / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    agent_typo = folder / "typo.yaml"
    agent_typo.write_text("roles:\n  a: {agent: debaterr}\nrounds: [{speak: [a]}]\n")
    result = run_cli("validate", str(broken), str(agent_typo))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    problems = lines(result.stderr)
    assert problems[0].startswith(f"{broken}: line ")
    assert problems[1].startswith(f"{agent_typo}: roles.a: unknown agent 'debaterr'")


def test_validate_accepts_every_shipped_declaration() -> None:
    result = run_cli(
        "validate", *(str(ROOT / kind) for kind in ("agents", "judges", "protocols", "scenarios"))
    )
    assert result.returncode == 0, result.stderr


def test_bad_cli_arguments_get_one_line(tmp_path: Path) -> None:
    cases = [
        (["run", "debate", "--model", "debatr=scripted"], "--model: 'debatr' matches no role"),
        (["run", "debate", "--model", "nonsense/x"], "--model: unknown model 'nonsense/x'"),
        (["run", "debate", "--scenarios", str(tmp_path / "nope.csv")], "nope.csv"),
        (["run", "no-such-protocol"], "unknown protocol 'no-such-protocol'"),
        (["run", "debate", "--limit", "0"], "--limit: must be at least 1"),
        (["run", "debate", "--model", "=scripted"], "--model: '=scripted'"),
    ]
    for args, expected in cases:
        result = run_cli(*args, "--out", str(tmp_path / "o"))
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert len(lines(result.stderr)) == 1 and expected in result.stderr, result.stderr


def test_unreadable_scenario_file_is_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "data.jsonl"
    garbage.write_text('{"question": "ok"}\n{not json\n')
    result = run_cli(
        "run",
        "direct-qa",
        "--scenarios",
        str(garbage),
        "--model",
        "scripted",
        "--out",
        str(tmp_path / "o"),
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert lines(result.stderr)[0].startswith(f"{garbage}: line 2")


def test_list_and_report(tmp_path: Path) -> None:
    listed = run_cli("list", "protocols")
    assert listed.returncode == 0
    for name in (
        "debate",
        "consultancy",
        "direct-qa",
        "oracle-qa",
        "open-debate",
        "open-consultancy",
    ):
        assert name in listed.stdout
    out = tmp_path / "run"
    assert (
        run_cli(
            "run", "direct-qa", "--model", "scripted", "--limit", "3", "--out", str(out)
        ).returncode
        == 0
    )
    shutil.copy(out / "summary.json", tmp_path / "before.json")
    (out / "summary.json").unlink()
    report = run_cli("report", str(out), "--json")
    assert report.returncode == 0
    before = json.loads((tmp_path / "before.json").read_text())
    (tmp_path / "before.json").write_text(json.dumps(before))
    # why the run stopped is known to the run, not to its records
    assert before.pop("stop_reason") == "completed"
    assert json.loads(report.stdout) == before
    shutil.copy(tmp_path / "before.json", out / "summary.json")
    again = run_cli("report", str(out), "--json")  # with summary.json there, it is kept
    assert json.loads(again.stdout)["stop_reason"] == "completed"
