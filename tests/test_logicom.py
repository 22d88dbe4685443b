"""LOGICOM metrics and fallacy taxonomy: checked by hand on the authors' logs and on small
synthetic inputs (a missing repeat, no logical successes, malformed files, run records)."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from debate.errors import DebateInputError
from debate.logicom.fallacies import (
    ALL_CLASSES,
    FALLACY_CLASSES,
    OTHER,
    check_fallacy_class,
    clean_label,
    detection_items,
    detection_stats,
    fallacy_distribution,
    normalise_fallacy,
)
from debate.logicom.stats import logicom_stats, render_logicom_stats

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "logicom"
OUTCOMES = SHARED / "debate_outcomes.csv"
TURNS = SHARED / "fallacy_turns.csv"
needs_outcomes = pytest.mark.skipif(not OUTCOMES.exists(), reason="shared LOGICOM data absent")
needs_turns = pytest.mark.skipif(not TURNS.exists(), reason="shared LOGICOM data absent")

HEADER = [
    "iteration",
    "debater_model",
    "topic_dir",
    "helper",
    "chat_id",
    "topic_id",
    "number_of_rounds",
    "stop_reason",
    "convinced",
    "n_messages",
]
HELPER = {"none": "No_Helper", "logical": "Vanilla_Helper", "fallacy": "Fallacy_Helper"}
STOP = {True: "Persuader successfully convinced the debater", False: "Agents are in greeting loop"}


def write_csv(path: Path, rows: list[tuple[int, str, str, str, bool]]) -> Path:
    """rows: (iteration, model, claim, condition, convinced)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i, (it, model, claim, cond, ok) in enumerate(rows):
            writer.writerow([it, model, claim, HELPER[cond], f"c{i}", claim, 3, STOP[ok], ok, 7])
    return path


# ---------------------------------------------------------------- the authors' logs by hand


def _by_hand() -> dict[tuple[str, str], dict[str, dict[str, bool]]]:
    """(model, helper) -> claim -> iteration -> convinced, with nothing but the csv module."""
    cells: dict[tuple[str, str], dict[str, dict[str, bool]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    with OUTCOMES.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            cell = cells[(row["debater_model"], row["helper"])]
            cell[row["topic_id"]][row["iteration"]] = row["convinced"] == "True"
    return cells


@needs_outcomes
def test_authors_csv_matches_a_hand_count() -> None:
    stats = logicom_stats(OUTCOMES)
    cells = _by_hand()
    assert stats["source"] == "authors-csv"
    assert set(stats["models"]) == {model for model, _ in cells}
    for (model, helper), claims in cells.items():
        condition = {"No_Helper": "none", "Vanilla_Helper": "logical", "Fallacy_Helper": "fallacy"}[
            helper
        ]
        s = stats["models"][model]
        outcomes = [ok for per in claims.values() for ok in per.values()]
        rate = s["convinced_rate"][condition]
        assert rate["n"] == len(outcomes)
        assert rate["value"] == pytest.approx(sum(outcomes) / len(outcomes))
        assert rate["ci95"][0] <= rate["value"] <= rate["ci95"][1]
        all_three = sum(1 for per in claims.values() if len(per) == 3 and all(per.values()))
        assert s["all_success_claims"][condition] == all_three
        histogram = Counter(sum(per.values()) for per in claims.values())
        assert s["success_histogram"][condition] == [histogram[j] for j in range(4)]
    for s in stats["models"].values():
        fallacy, logical = s["all_success_claims"]["fallacy"], s["all_success_claims"]["logical"]
        assert s["fallacy_vs_logical_increase"] == pytest.approx((fallacy - logical) / logical)


@needs_outcomes
def test_authors_csv_known_figures() -> None:
    """Figures of the shared part of the logs, counted once by hand and pinned here."""
    stats = logicom_stats(OUTCOMES)
    gpt4, gpt35 = stats["models"]["GPT-4"], stats["models"]["GPT-3.5"]
    if gpt4["claims"] != 139:  # a different part of the logs: the hand count above still runs
        pytest.skip("not the 139-claim shared sample")
    assert gpt4["all_success_claims"] == {"none": 50, "logical": 49, "fallacy": 82}
    assert gpt35["all_success_claims"] == {"none": 12, "logical": 19, "fallacy": 24}
    assert gpt4["fallacy_vs_logical_increase"] == pytest.approx(33 / 49)
    assert gpt35["fallacy_vs_logical_increase"] == pytest.approx(5 / 19)
    assert gpt4["convinced_rate"]["fallacy"]["value"] == pytest.approx(289 / 417)
    # one GPT-3.5 No_Helper debate is missing from the logs: that claim is incomplete
    assert gpt35["incomplete_claims"]["none"] == ["17965626_211_A34QZDSTKZ3JO102"]
    assert gpt35["convinced_rate"]["none"]["n"] == 416
    assert gpt4["stop_reasons"]["fallacy"]["convinced"] == 289
    assert gpt35["convinced_stop_mismatch"] + gpt4["convinced_stop_mismatch"] == 35


# ---------------------------------------------------------------- synthetic edge cases


def test_missing_repeat_is_incomplete_not_a_success(tmp_path: Path) -> None:
    rows = []
    for cond in ("none", "logical", "fallacy"):
        for it in (1, 2, 3):
            rows.append((it, "m", "a", cond, True))
            if not (cond == "fallacy" and it == 2):  # claim b lacks fallacy repeat 2
                rows.append((it, "m", "b", cond, cond != "none"))
    s = logicom_stats(write_csv(tmp_path / "o.csv", rows))["models"]["m"]
    assert s["repeats"] == 3
    assert s["incomplete_claims"]["fallacy"] == ["b"]
    assert s["all_success_claims"] == {"none": 1, "logical": 2, "fallacy": 1}
    assert s["success_histogram"]["fallacy"] == [0, 0, 1, 1]  # b: 2 of its 2 recorded repeats
    assert s["success_histogram"]["none"] == [1, 0, 0, 1]
    assert s["convinced_rate"]["fallacy"]["n"] == 5
    assert s["fallacy_vs_logical_increase"] == pytest.approx(-0.5)


def test_zero_logical_successes_gives_none_with_a_note(tmp_path: Path) -> None:
    rows = [(it, "m", "a", c, c == "fallacy") for it in (1, 2) for c in ("logical", "fallacy")]
    s = logicom_stats(write_csv(tmp_path / "o.csv", rows))["models"]["m"]
    assert s["all_success_claims"] == {"logical": 0, "fallacy": 1}
    assert s["fallacy_vs_logical_increase"] is None
    assert "no claim" in s["fallacy_vs_logical_increase_note"]
    assert s["convinced_rate"]["logical"] == {"value": 0.0, "ci95": [0.0, 0.0], "n": 2}


def test_topic_dir_is_the_claim_when_topic_id_is_blank(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["iteration", "debater_model", "topic_dir", "helper", "convinced"])
        writer.writerow([1, "m", "x", "Fallacy_Helper", "True"])
        writer.writerow([1, "m", "y", "Fallacy_Helper", "false"])
    s = logicom_stats(path)["models"]["m"]
    assert s["claims"] == 2
    assert s["success_histogram"]["fallacy"] == [1, 1]
    assert s["stop_reasons"]["fallacy"]["max_rounds"] == 2  # no stop_reason column: blank


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "iteration,debater_model,helper,convinced,topic_id\n1,m,Socratic_Helper,True,a\n",
            "helper",
        ),
        ("iteration,debater_model,helper,convinced,topic_id\n1,m,No_Helper,maybe,a\n", "boolean"),
        ("iteration,debater_model,helper,convinced\n1,m,No_Helper,True\n", "topic_id"),
        ("iteration,debater_model,helper,topic_id\n1,m,No_Helper,a\n", "convinced"),
        ("iteration,debater_model,helper,convinced,topic_id\n1,m,No_Helper,True,a,extra\n", "more"),
        ("iteration,debater_model,helper,convinced,topic_id\n,m,No_Helper,True,a\n", "iteration"),
        ("question,answer\nwhy,because\n", "not a LOGICOM outcome log"),
    ],
)
def test_malformed_csv_is_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DebateInputError) as info:
        logicom_stats(path)
    assert len(info.value.lines) == 1
    assert str(path) in info.value.lines[0] and message in info.value.lines[0]


def test_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(DebateInputError, match="no such file"):
        logicom_stats(tmp_path / "nothing.csv")
    with pytest.raises(DebateInputError, match="not a run directory"):
        logicom_stats(tmp_path)


# ---------------------------------------------------------------- run directories of ours


def record(claim: str, condition: str, repeat: int, convinced: bool, **extra: object) -> dict:
    return {
        "id": f"{claim}/{condition}/{repeat}",
        "protocol": "logicom",
        "scenario_id": claim,
        "variant": {"condition": condition, "repeat": repeat},
        "models": {"persuader": "scripted/p", "helper": "scripted/h", "debater": "scripted/d"},
        "outcome": {
            "convinced": convinced,
            "stop_reason": "convinced" if convinced else "not_convinced_limit",
            "rounds": 2,
        },
        **extra,
    }


def test_run_directory_records(tmp_path: Path) -> None:
    helper_turns = [
        {"role": "helper", "meta": {"fallacy": "Bandwagon"}},
        {"role": "helper", "meta": {"fallacy": "Appeal to Fear"}},
        {"role": "debater", "meta": {}},
    ]
    records = [
        record("c1", "logical", 0, True),
        record("c1", "logical", 1, True),
        record("c1", "fallacy", 0, True, messages=helper_turns),
        record("c1", "fallacy", 1, True),
        record("c2", "logical", 0, False),
        record("c2", "logical", 1, True),
        record("c2", "fallacy", 0, True),
        record("c2", "fallacy", 1, True),
        {"id": "other", "protocol": "debate", "outcome": None},  # not a LOGICOM record: skipped
    ]
    text = "".join(json.dumps(r) + "\n" for r in records) + '{"id": "torn'  # crash mid-write
    (tmp_path / "transcripts.jsonl").write_text(text, encoding="utf-8")
    stats = logicom_stats(tmp_path)
    assert stats["source"] == "run"
    s = stats["models"]["scripted/d"]
    assert s["repeats"] == 2 and s["claims"] == 2
    assert s["all_success_claims"] == {"logical": 1, "fallacy": 2}
    assert s["fallacy_vs_logical_increase"] == pytest.approx(1.0)
    assert s["success_histogram"]["logical"] == [0, 1, 1]
    assert s["stop_reasons"]["logical"]["not_convinced_limit"] == 1
    assert s["helper_fallacies"]["appeal to popular opinion"] == 1
    assert s["helper_fallacies"]["appeal to emotion"] == 1
    tables = render_logicom_stats(stats)
    assert len(tables) == 1 and tables[0].row_count == 2


def test_run_record_without_condition_is_an_error(tmp_path: Path) -> None:
    bad = record("c1", "logical", 0, True)
    bad["variant"] = {"repeat": 0}
    (tmp_path / "transcripts.jsonl").write_text(json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(DebateInputError, match=r"line 1: variant.condition: missing"):
        logicom_stats(tmp_path)


@needs_outcomes
def test_render_shows_every_model_and_condition() -> None:
    stats = logicom_stats(OUTCOMES)
    console = Console(width=200, record=True)
    for table in render_logicom_stats(stats):
        console.print(table)
    text = console.export_text()
    for model in stats["models"]:
        assert f"debater {model}" in text
    assert "0.693 [" in text  # GPT-4 fallacy convinced rate
    assert "fallacy vs logical" in text


# ---------------------------------------------------------------- fallacy taxonomy

TRICKY = {
    "Appeal to Fear": "appeal to emotion",
    "Bandwagon Fallacy": "appeal to popular opinion",
    "Post hoc ergo propter hoc": "causal fallacy",
    "Hasty Generalization": OTHER,
    "Strawman fallacy": "straw man",
    "Misrepresentation (Straw Man)": "straw man",
    "False Dichotomy": "false dilemma",
    "fake dilemma": "false dilemma",
    "Introduction of False Dilemma Fallacy": "false dilemma",
    "ad_hominem": "ad hominem",
    "Personal Attack": "ad hominem",
    "Flattery/Ad Hominem": "ad hominem",  # a class named outright beats a synonym
    "Flattery": "appeal to emotion",
    "Personal Attack/Ad Hominem": "ad hominem",
    "Appeal to Emotion and False Dilemma": "appeal to emotion",
    "Ad Populum (Appeal to Popular Opinion)": "appeal to popular opinion",
    "Logical Fallacy: Appeal to Popular Opinion": "appeal to popular opinion",
    "Appeal to Polularity": "appeal to popular opinion",
    "Appeal to Common Practice": "appeal to popular opinion",
    "False Consensus": "appeal to popular opinion",
    "False Authority": "appeal to authority",
    "False Cause fallacy": "causal fallacy",
    "False information": "false information",
    "False Equivalence": OTHER,
    "False analogy": OTHER,
    "Irrelevant Conclusion (Red Herring)": OTHER,
    "Appeal to Tradition": OTHER,
    "None - No logical fallacy used": OTHER,
    "N/A": OTHER,
    "name of the fallacy": OTHER,
    "": OTHER,
    "Slippery slope fallacy": "slippery slope",
    "Emotional Manipulation": "appeal to emotion",
    "Promotional claims": OTHER,  # "emotion" inside a word does not count
}


@pytest.mark.parametrize(("label", "expected"), sorted(TRICKY.items()))
def test_tricky_labels(label: str, expected: str) -> None:
    assert normalise_fallacy(label) == expected


def test_class_names_map_to_themselves() -> None:
    for cls in FALLACY_CLASSES:
        assert normalise_fallacy(cls) == cls
        assert normalise_fallacy(cls.upper() + " fallacy") == cls
        assert check_fallacy_class(cls.title()) == cls
    assert check_fallacy_class("strawman") == "straw man"
    with pytest.raises(ValueError, match="unknown fallacy"):
        check_fallacy_class("red herring")


@needs_turns
def test_every_label_in_the_authors_logs_maps() -> None:
    with TURNS.open(newline="", encoding="utf-8") as handle:
        labels = [row["fallacy"] for row in csv.DictReader(handle)]
    distinct = set(labels)
    assert len(distinct) > 50
    for label in distinct:
        cls = normalise_fallacy(label)
        assert cls in ALL_CLASSES
        text = clean_label(label)
        named = [c for c in FALLACY_CLASSES if c in text]
        if len(named) == 1:  # a label that names exactly one class maps to that class
            assert cls == named[0], label
    distribution = fallacy_distribution(labels)
    assert list(distribution) == list(ALL_CLASSES)
    assert sum(distribution.values()) == len(labels)
    # the helper used the nine classes: `other` (none, red herring, ...) stays a small share
    assert distribution[OTHER] < 0.1 * len(labels)
    assert all(distribution[c] > 0 for c in FALLACY_CLASSES)


# ---------------------------------------------------------------- commands


def cli(*args: str) -> Result:
    from debate.cli import add_feature_commands, app

    add_feature_commands()
    return CliRunner().invoke(app, list(args))


@needs_outcomes
def test_logicom_stats_command_json_and_table() -> None:
    result = cli("logicom-stats", str(OUTCOMES), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for model in data["models"].values():
        for condition in ("none", "logical", "fallacy"):
            rate = model["convinced_rate"][condition]
            assert set(rate) == {"value", "ci95", "n"} and len(rate["ci95"]) == 2
            assert len(model["success_histogram"][condition]) == model["repeats"] + 1
        assert isinstance(model["fallacy_vs_logical_increase"], float)
    table = cli("logicom-stats", str(OUTCOMES))
    assert table.exit_code == 0 and "fallacy vs logical" in table.output


def test_logicom_stats_command_bad_input_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("iteration,debater_model,helper,convinced,topic_id\n1,m,Odd,True,a\n")
    result = cli("logicom-stats", str(bad))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert f"{bad}: line 2: helper: unknown 'Odd'" in result.output


@needs_turns
def test_fallacy_stats_command_on_the_labels() -> None:
    result = cli("fallacy-stats", str(TURNS), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert sum(data["distribution"].values()) == data["n"]
    assert list(data["distribution"]) == list(ALL_CLASSES)


@needs_turns
def test_fallacy_detection_items_and_scoring(tmp_path: Path) -> None:
    items = detection_items(TURNS, per_class=3, seed=1)
    assert len(items) == 3 * len(FALLACY_CLASSES)
    assert items == detection_items(TURNS, per_class=3, seed=1)  # seeded and stable
    for item in items:
        gold = item["answers"][item["correct_index"]]
        assert normalise_fallacy(item["label"]) == gold
    records = []
    for i, item in enumerate(items):
        chosen = item["correct_index"] if i % 3 == 0 else (item["correct_index"] + 1) % 9
        valid = i % 9 != 8
        records.append(
            {
                **item,
                "final_verdict": {"chosen": chosen, "valid": valid},
                "correct": False,  # the engine's >0.5 rule must not be what scores 9-way items
            }
        )
    stats = detection_stats(records)
    per_class = stats["per_class"]
    assert all(per_class[cls]["n"] == 3 for cls in FALLACY_CLASSES)
    assert stats["accuracy"]["value"] == pytest.approx(1 / 3)
    assert per_class[FALLACY_CLASSES[0]]["value"] == pytest.approx(1 / 3)
    assert stats["invalid"] == 3


def test_fallacy_turns_bad_header_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "turns.csv"
    bad.write_text("label,text\nx,y\n")
    with pytest.raises(DebateInputError) as info:
        detection_items(bad)
    assert info.value.lines == [f"{bad}: header: missing fallacy, response"]


@needs_turns
def test_fallacy_detection_command_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["--data", str(TURNS), "--per-class", "2", "--model", "scripted", "--out", str(out)]
    result = cli("fallacy-detection", *args, "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output[result.output.index('{\n  "accuracy"') :])
    assert [stats["per_class"][cls]["n"] for cls in FALLACY_CLASSES] == [2] * 9
    assert stats["accuracy"]["n"] == 18
    again = cli("fallacy-stats", str(out), "--json")
    assert again.exit_code == 0 and json.loads(again.output)["accuracy"] == stats["accuracy"]
    missing = cli("fallacy-detection", "--data", str(tmp_path / "none.csv"), "--out", str(out))
    assert missing.exit_code == 2 and "no such file" in missing.output
