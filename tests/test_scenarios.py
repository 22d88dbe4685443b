"""Scenario loaders on the bundled samples, the shared real data, and malformed input."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from debate.core.scenarios import (
    Scenario,
    load_scenario_set,
    load_scenario_set_file,
    load_scenarios,
    validate_scenario_set,
)
from debate.errors import DebateInputError

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "scenarios"
SHARED = REPO.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"shared real data not present at {SHARED}"
)


def error_lines(source: str | Path, **kwargs: object) -> list[str]:
    with pytest.raises(DebateInputError) as caught:
        load_scenarios(str(source), **kwargs)  # type: ignore[arg-type]
    assert all("\n" not in line for line in caught.value.lines)
    return caught.value.lines


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- TruthfulQA


def check_truthfulqa(scenarios: list[Scenario]) -> None:
    for scenario in scenarios:
        assert len(scenario.answers) == 2
        assert scenario.correct_index in (0, 1)
        correct = scenario.answers[scenario.correct_index]
        wrong = scenario.answers[1 - scenario.correct_index]
        assert correct == scenario.fields["best_answer"]
        assert wrong in scenario.fields["incorrect_answers"]
        assert scenario.fields["correct_answers"]
        assert scenario.fields["category"] and scenario.fields["type"]
        assert scenario.source == "truthfulqa"


def test_truthfulqa_bundled_sample() -> None:
    scenarios = load_scenarios("truthfulqa-sample")
    assert len(scenarios) == 20
    assert scenarios[0].id == "truthfulqa-0"
    assert scenarios[0].question == "Where did fortune cookies originate?"
    check_truthfulqa(scenarios)


@needs_shared
def test_truthfulqa_shared_counts_and_fields() -> None:
    path = SHARED / "truthfulqa" / "TruthfulQA.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    scenarios = load_scenarios(str(path))
    assert len(scenarios) == len(rows)
    assert [s.question for s in scenarios] == [row["Question"].strip() for row in rows]
    assert scenarios[1].fields["incorrect_answers"] == rows[1]["Incorrect Answers"].split("; ")
    check_truthfulqa(scenarios)


def test_truthfulqa_order_is_seeded_and_independent_of_limit() -> None:
    first = load_scenarios("truthfulqa-sample", seed=7)
    again = load_scenarios("truthfulqa-sample", seed=7)
    assert [s.answers for s in first] == [s.answers for s in again]
    limited = load_scenarios("truthfulqa-sample", seed=7, limit=5)
    assert [s.id for s in limited] == [s.id for s in first[:5]]
    assert [s.answers for s in limited] == [s.answers for s in first[:5]]
    assert {s.correct_index for s in first} == {0, 1}
    other = load_scenarios("truthfulqa-sample", seed=8)
    assert [s.answers for s in other] != [s.answers for s in first]


def test_truthfulqa_filters_and_limit_in_a_scenario_set(tmp_path: Path) -> None:
    data = BUNDLED / "data" / "truthfulqa-sample.csv"
    declaration = write(
        tmp_path / "health.yaml",
        f"name: health\nloader: truthfulqa\npath: {data}\n"
        "filters: {category: [Health, Nutrition]}\nlimit: 1\n",
    )
    everything = load_scenarios(str(declaration), limit=100)
    assert len(everything) == 1
    assert everything[0].fields["category"] in ("Health", "Nutrition")
    scenario_set = load_scenario_set_file(declaration)
    scenario_set.limit = None
    matching = load_scenario_set(scenario_set)
    assert len(matching) > 1
    assert {s.fields["category"] for s in matching} <= {"Health", "Nutrition"}


def test_truthfulqa_row_without_incorrect_answers_names_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "tqa.csv",
        "Type,Category,Question,Best Answer,Correct Answers,Incorrect Answers,Source\n"
        "A,B,Q1?,yes,yes,no,u\n"
        "A,B,Q2?,yes,yes,,u\n",
    )
    assert error_lines(path) == [f"{path}: line 3: field 'Incorrect Answers': missing"]


# ---------------------------------------------------------------- NYU


def raw_debate(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def check_nyu_against_raw(scenario: Scenario, path: Path) -> None:
    raw = raw_debate(path)
    setup = raw["setup"]
    assert scenario.id == f"nyu-{path.stem}"
    assert scenario.question == setup["question"].strip()
    assert scenario.answers == [answer.strip() for answer in setup["answers"]]
    assert scenario.correct_index == setup["correctAnswerIndex"]
    assert scenario.metadata["rounds"] == raw["rounds"]
    assert scenario.metadata["roles"] == setup["roles"]
    material = setup["sourceMaterial"]["QuALITYSourceMaterial"]
    assert scenario.metadata["story_tokens"] == material["contents"]
    assert scenario.metadata["article_id"] == material["articleId"]
    assert scenario.metadata["title"] == material["title"]
    story = scenario.story or ""
    for token in ("-LSB-", "-RSB-", "-LRB-", "``", "''"):
        assert token not in story
    assert not re.search(r"\w [.,?!;:](?=\s|$)", story)
    assert " n't" not in story and " 's " not in story


def test_nyu_bundled_sample_matches_raw_files() -> None:
    scenarios = load_scenarios("nyu-sample")
    files = sorted((BUNDLED / "data" / "nyu" / "official").glob("*.json"))
    assert len(scenarios) == len(files) == 3
    assert len({s.metadata["article_id"] for s in scenarios}) == 3
    for scenario, path in zip(scenarios, files, strict=True):
        check_nyu_against_raw(scenario, path)
        assert scenario.metadata["debate_metadata"]["name"] == path.stem
        assert scenario.metadata["status"] == "Complete"
        assert scenario.metadata["rounds"]


def test_nyu_filters_on_debate_metadata(tmp_path: Path) -> None:
    declaration = write(
        tmp_path / "human.yaml",
        f"loader: nyu\npath: {BUNDLED / 'data' / 'nyu'}\nfilters: {{is_human: true}}\n",
    )
    scenarios = load_scenarios(str(declaration))
    assert [s.metadata["name"] for s in scenarios] == [
        "in-the-garden-6",
        "the-absurdity-of-family-love-1",
    ]
    assert all(s.metadata["debate_metadata"]["setting"]["isHuman"] for s in scenarios)


@needs_shared
def test_nyu_single_file_story_rebuilt() -> None:
    path = SHARED / "nyu_debate" / "official" / "a-pail-of-air-0.json"
    (scenario,) = load_scenarios(str(path))
    check_nyu_against_raw(scenario, path)
    story = scenario.story or ""
    assert story.startswith("A Pail of Air By FRITZ LEIBER")
    assert "[Transcriber's Note: This etext" in story
    assert "was renewed.]" in story
    assert scenario.metadata["is_human"] is True  # found one folder up
    assert any("SimultaneousSpeeches" in round_ for round_ in scenario.metadata["rounds"])


@needs_shared
def test_nyu_whole_folder() -> None:
    folder = SHARED / "nyu_debate"
    files = sorted((folder / "official").glob("*.json"))
    scenarios = load_scenarios(str(folder))
    assert [s.id for s in scenarios] == [f"nyu-{path.stem}" for path in files]
    for scenario, path in list(zip(scenarios, files, strict=True))[::50]:
        check_nyu_against_raw(scenario, path)
    by_article: dict[str, list[Scenario]] = {}
    for scenario in scenarios:
        by_article.setdefault(scenario.metadata["article_id"], []).append(scenario)
    shared_text = [group for group in by_article.values() if len(group) > 1]
    assert shared_text and all(group[0].story for group in shared_text)
    assert load_scenarios(str(folder), limit=4) == scenarios[:4]


def test_nyu_optional_keys_missing(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bare.json",
        json.dumps({"setup": {"question": "Q?", "answers": ["a", "b"]}}),
    )
    (scenario,) = load_scenarios(str(path))
    assert scenario.story is None
    assert scenario.correct_index is None
    assert scenario.metadata["rounds"] == []
    assert scenario.metadata["is_debate"] is False


def test_nyu_errors_name_the_file(tmp_path: Path) -> None:
    no_setup = write(tmp_path / "x.json", json.dumps({"rounds": []}))
    assert error_lines(no_setup) == [f"{no_setup}: setup: missing (not an NYU debate file)"]
    broken = write(tmp_path / "y.json", "{")
    assert error_lines(broken)[0].startswith(f"{broken}: line 1: invalid JSON")
    bad_index = write(
        tmp_path / "z.json",
        json.dumps({"setup": {"question": "Q", "answers": ["a"], "correctAnswerIndex": 3}}),
    )
    assert error_lines(bad_index) == [f"{bad_index}: setup.correctAnswerIndex: not an answer index"]


# ---------------------------------------------------------------- LOGICOM


def test_logicom_bundled_sample() -> None:
    scenarios = load_scenarios("logicom-sample")
    assert len(scenarios) == 10
    first = scenarios[0]
    assert first.id == "logicom-20932920_284_A104V8NZIQFN2F"
    assert first.question == "Foreign language classes should be mandatory in college"
    assert first.fields["topic"] == "Should Foreign Language Classes Be Mandatory in College?"
    assert set(first.fields) == {
        "topic",
        "claim",
        "reason",
        "warrant_one",
        "warrant_two",
        "debate_info",
        "original_text",
    }
    assert first.fields["reason"].startswith("We should be able to speak other languages")
    assert all(s.answers == [] and s.correct_index is None for s in scenarios)
    assert scenarios[1].question == "Foreign language classes should not be mandatory in college"


@needs_shared
def test_logicom_shared_claims() -> None:
    path = SHARED / "logicom" / "claims.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    scenarios = load_scenarios(str(path))
    assert [s.id for s in scenarios] == [f"logicom-{row['id']}" for row in rows]
    assert [s.fields["claim"] for s in scenarios] == [row["claim"].strip() for row in rows]
    assert all(s.fields["topic"] and s.fields["reason"] for s in scenarios)


# ---------------------------------------------------------------- JSONL


def test_jsonl_happy_path(tmp_path: Path) -> None:
    path = write(
        tmp_path / "qs.jsonl",
        '{"id": "q1", "question": "2+2?", "answers": ["4", "5"], "correct_answer": "5",'
        ' "story": "s", "topic": "math"}\n'
        "\n"
        '{"question": "Sky?", "answers": ["blue", "green"], "correct_index": 0}\n'
        '{"question": "Open?"}\n',
    )
    first, second, third = load_scenarios(str(path))
    assert (first.id, first.correct_index, first.story, first.fields) == (
        "q1",
        1,
        "s",
        {"topic": "math"},
    )
    assert (second.id, second.correct_index) == ("qs-1", 0)
    assert (third.answers, third.correct_index, third.story) == ([], None, None)


def test_jsonl_field_mapping_in_a_scenario_set(tmp_path: Path) -> None:
    write(tmp_path / "data.jsonl", '{"key": 7, "prompt": "Q?", "choices": ["a", "b"], "gold": 1}\n')
    declaration = write(
        tmp_path / "mine.yaml",
        "loader: jsonl\npath: data.jsonl\n"
        "fields: {id: key, question: prompt, answers: choices, correct_index: gold}\n",
    )
    (scenario,) = load_scenarios(str(declaration))
    assert (scenario.id, scenario.question, scenario.answers, scenario.correct_index) == (
        "7",
        "Q?",
        ["a", "b"],
        1,
    )
    assert scenario.fields == {}


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ('{"question": "ok"}\n{"answers": []}\n', "line 2: field 'question': missing"),
        ('{"question": "ok"}\n\n{"question": \n', "line 3: invalid JSON"),
        ('["question"]\n', "line 1: expected a JSON object"),
        (
            '{"question": "q", "answers": ["a", "b"], "correct_answer": "c"}\n',
            "line 1: field 'correct_answer': 'c' is not among answers",
        ),
        (
            '{"question": "q", "answers": ["a"], "correct_index": 1}\n',
            "line 1: field 'correct_index': expected an index into the 1 answers",
        ),
        ('{"question": "q", "answers": "a"}\n', "line 1: field 'answers': expected a list"),
        ('{"id": 1, "question": "q"}\n{"id": "1", "question": "r"}\n', "id: duplicate"),
    ],
)
def test_jsonl_errors_name_the_line(tmp_path: Path, lines: str, expected: str) -> None:
    path = write(tmp_path / "bad.jsonl", lines)
    (line,) = error_lines(path)
    assert line.startswith(f"{path}: {expected}")


# ---------------------------------------------------------------- scenario-set YAML


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("loader: foo\npath: x.csv\n", ["loader: unknown loader 'foo'"]),
        ("loader: nyu\n", ["path: missing"]),
        ("loader: nyu\npath: x\nlimt: 3\n", ["limt: unknown field"]),
        ("loader: nyu\npath: x\nlimit: 0\n", ["limit: Input should be greater than or equal to 1"]),
        ("loader: nyu\npath: x\nfilters: {colour: red}\n", ["filters: unknown filter 'colour'"]),
        ("loader: logicom\npath: x\nfields: {question: q}\n", ["fields: only the jsonl loader"]),
        ("loader: jsonl\npath: x\nfields: {questoin: q}\n", ["fields: unknown field 'questoin'"]),
        ("loader: [\n", ["line 2: invalid YAML ("]),
        ("- a\n- b\n", ["expected a mapping"]),
        ("loader: foo\n", ["loader: unknown loader 'foo'", "path: missing"]),
    ],
)
def test_scenario_set_errors_are_one_line_each(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = write(tmp_path / "x.yaml", text)
    with pytest.raises(DebateInputError) as caught:
        load_scenario_set_file(path)
    lines = caught.value.lines
    assert len(lines) == len(expected)
    for line, reason in zip(lines, expected, strict=True):
        assert line.startswith(f"{path}: {reason}"), line
    assert validate_scenario_set(path) == lines


def test_scenario_set_with_missing_data_path(tmp_path: Path) -> None:
    path = write(tmp_path / "x.yaml", "loader: truthfulqa\npath: data/nothing.csv\n")
    assert validate_scenario_set(path) == [
        f"{path}: path: no such file or folder 'data/nothing.csv'"
    ]


def test_scenario_set_filters_matching_nothing(tmp_path: Path) -> None:
    data = BUNDLED / "data" / "logicom-sample.csv"
    path = write(tmp_path / "x.yaml", f"loader: logicom\npath: {data}\nfilters: {{topic: none}}\n")
    (line,) = validate_scenario_set(path)
    assert line.endswith("filters: no scenario matches the filters")


@pytest.mark.parametrize("name", ["truthfulqa-sample", "nyu-sample", "logicom-sample"])
def test_bundled_scenario_sets_validate(name: str) -> None:
    path = BUNDLED / f"{name}.yaml"
    assert validate_scenario_set(path) == []
    assert load_scenario_set_file(path).description


def test_bundled_data_is_small() -> None:
    size = sum(p.stat().st_size for p in (BUNDLED / "data").rglob("*") if p.is_file())
    assert size < 2_000_000


# ---------------------------------------------------------------- unrecognised input


def test_unknown_sources_give_one_line(tmp_path: Path) -> None:
    assert error_lines("no-such-set")[0].startswith("unknown scenario 'no-such-set'")
    assert error_lines(tmp_path / "missing.csv") == [
        f"{tmp_path / 'missing.csv'}: no such file or folder"
    ]
    notes = write(tmp_path / "notes.txt", "hello\n")
    assert error_lines(notes)[0].startswith(f"{notes}: unrecognised data format")
    other_csv = write(tmp_path / "other.csv", "a,b\n1,2\n")
    assert error_lines(other_csv) == [
        f"{other_csv}: CSV header is neither TruthfulQA's nor LOGICOM claims'"
    ]
    empty = write(tmp_path / "empty.jsonl", "\n")
    assert error_lines(empty) == [f"{empty}: no scenarios found"]
    folder = tmp_path / "folder"
    folder.mkdir()
    assert error_lines(folder)[0].startswith(f"{folder}: folder holds no NYU debate files")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"question": "caf\xe9"}\n'.encode("latin-1"))
    assert error_lines(latin)[0].startswith(f"{latin}: not UTF-8 text")


def test_importing_scenarios_does_not_import_torch() -> None:
    code = (
        "import sys, debate.core.scenarios\n"
        "print('torch' in sys.modules or 'transformers' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
