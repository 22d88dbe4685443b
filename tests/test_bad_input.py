"""Bad input of every kind: one line naming the file (and field or line), the documented
exit code, no traceback, no hang, no file created by a template.

Every case calls the CLI in-process (`debate.cli.main`) from a fresh folder holding the
bad input, so the suite is fast. Declarations are checked with `debate validate` and
with `debate run` (which must refuse them the same way); data files, options and run
folders with `debate run` and `debate report`; reward requests with the server's parser.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from debate.cli import main
from debate.rl.server import BadRequest, parse_request

PROTOCOL = """\
name: p
roles:
  debater_a: {agent: debater, defends: 0}
  debater_b: {agent: debater, defends: 1}
  judge: {judge: qa-judge}
rounds:
  - speak: [debater_a, debater_b]
verdict: judge
"""

AGENT = """\
name: a
system: "You are {{ name }}. Question: {{ question }}"
instruction: "Argue for {{ my_answer }}."
"""

JUDGE = """\
name: j
system: "Judge the question: {{ question }}"
instruction: "Answer with {{ label_choices }}."
"""

SCENARIOS = '{"id": "q1", "question": "Is it?", "answers": ["yes", "no"], "correct_index": 0}\n'


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err
        self.lines = [line for line in err.splitlines() if line.strip()]


@pytest.fixture(name="cli")
def cli_fixture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Result]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def refused(result: Result, *named: str, code: int = 2) -> None:
    """Exit `code`, exactly one line on stderr naming each of `named`, no traceback."""
    assert "Traceback" not in result.err + result.out, result.err
    assert result.code == code, (result.code, result.err, result.out[-500:])
    assert len(result.lines) == 1, result.lines
    for part in named:
        assert part in result.lines[0], (part, result.lines[0])


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def edit(base: str, old: str, new: str) -> str:
    assert old in base, old
    return base.replace(old, new, 1)


# ------------------------------------------------------------------ declarations

PROTOCOL_CASES = [
    (
        "unknown-role",
        edit(PROTOCOL, "[debater_a, debater_b]", "[debater_a, debater_c]"),
        "rounds[0].speak",
    ),
    (
        "unknown-step",
        edit(PROTOCOL, "- speak: [debater_a, debater_b]", "- shout: [debater_a]"),
        "rounds[0]",
    ),
    (
        "two-steps",
        edit(PROTOCOL, "- speak: [debater_a, debater_b]", "- {speak: [debater_a], ask: judge}"),
        "rounds[0]",
    ),
    (
        "repeat-huge",
        edit(
            PROTOCOL,
            "- speak: [debater_a, debater_b]",
            "- {repeat: 1000000000, speak: [debater_a]}",
        ),
        "repeat",
    ),
    (
        "repeat-negative",
        edit(PROTOCOL, "- speak: [debater_a, debater_b]", "- {repeat: -1, speak: [debater_a]}"),
        "repeat",
    ),
    ("word-limit-negative", PROTOCOL + "word_limit: -5\n", "word_limit"),
    ("word-limit-zero", PROTOCOL + "word_limit: 0\n", "word_limit"),
    ("defends-negative", edit(PROTOCOL, "defends: 0", "defends: -1"), "defends"),
    ("defends-word", edit(PROTOCOL, "defends: 0", "defends: first"), "defends"),
    ("threshold-5", PROTOCOL + "quote_threshold: 5\n", "quote_threshold"),
    ("threshold-negative", PROTOCOL + "quote_threshold: -0.1\n", "quote_threshold"),
    ("quote-mode", PROTOCOL + "quotes: fuzzyish\n", "quotes"),
    ("hidden-role", PROTOCOL + "hidden_from: {story: [judje]}\n", "hidden_from.story"),
    ("hidden-field-typo", PROTOCOL + "hidden_from: {storyy: [judge]}\n", "hidden_from.storyy"),
    ("verdict-unknown", edit(PROTOCOL, "verdict: judge", "verdict: referee"), "verdict"),
    ("verdict-not-judge", edit(PROTOCOL, "verdict: judge", "verdict: debater_a"), "verdict"),
    (
        "role-both",
        edit(PROTOCOL, "{judge: qa-judge}", "{judge: qa-judge, agent: debater}"),
        "roles",
    ),
    ("role-neither", edit(PROTOCOL, "{judge: qa-judge}", "{name: Judge}"), "roles"),
    ("unknown-key", PROTOCOL + "rondus: []\n", "rondus"),
    (
        "rounds-not-list",
        edit(PROTOCOL, "rounds:\n  - speak: [debater_a, debater_b]", "rounds: 3"),
        "rounds",
    ),
    (
        "round-not-mapping",
        edit(PROTOCOL, "- speak: [debater_a, debater_b]", "- debater_a"),
        "rounds[0]",
    ),
    ("speak-not-list", edit(PROTOCOL, "[debater_a, debater_b]", "{a: 1}"), "rounds[0].speak"),
    (
        "together-not-bool",
        edit(PROTOCOL, "[debater_a, debater_b]", "[debater_a, debater_b]\n    together: sometimes"),
        "together",
    ),
    (
        "instruction-unknown",
        edit(
            PROTOCOL, "[debater_a, debater_b]", "[debater_a, debater_b]\n    instruction: closingg"
        ),
        "closingg",
    ),
    (
        "choose-template",
        edit(
            edit(PROTOCOL, "defends: 0", "defends: choose"),
            "- speak: [debater_a, debater_b]",
            "- {choose: [debater_a], template: pickk}",
        ),
        "pickk",
    ),
    (
        "choose-not-choosing",
        edit(PROTOCOL, "- speak: [debater_a, debater_b]", "- choose: [debater_a]"),
        "choose",
    ),
    ("summary-unknown", PROTOCOL + "summary: [nosuch]\n", "summary"),
    ("variants-not-list", PROTOCOL + "variants: {condition: 3}\n", "variants.condition"),
    (
        "unknown-agent",
        edit(PROTOCOL, "agent: debater, defends: 0", "agent: debaterr, defends: 0"),
        "debaterr",
    ),
    ("unknown-judge", edit(PROTOCOL, "judge: qa-judge", "judge: qa-judgee"), "qa-judgee"),
    ("swap-word", PROTOCOL + "swap: maybe\n", "swap"),
    ("params-list", PROTOCOL + "params: [1, 2]\n", "params"),
    ("ask-not-judge", edit(PROTOCOL, "- speak: [debater_a, debater_b]", "- ask: debater_a"), "ask"),
    (
        "ask-to-judge",
        edit(PROTOCOL, "- speak: [debater_a, debater_b]", "- {ask: judge, to: [judge]}"),
        "to",
    ),
    (
        "verdict-step-agent",
        edit(PROTOCOL, "- speak: [debater_a, debater_b]", "- verdict: debater_b"),
        "verdict",
    ),
    (
        "roles-empty",
        edit(
            edit(
                PROTOCOL,
                "  debater_a: {agent: debater, defends: 0}\n"
                "  debater_b: {agent: debater, defends: 1}\n"
                "  judge: {judge: qa-judge}\n",
                "",
            ),
            "roles:\n",
            "roles: 5\n",
        ),
        "roles",
    ),
]


@pytest.mark.parametrize(
    ("case", "text", "field"), PROTOCOL_CASES, ids=[c[0] for c in PROTOCOL_CASES]
)
def test_bad_protocol_is_refused_by_validate(
    cli: Callable[..., Result], tmp_path: Path, case: str, text: str, field: str
) -> None:
    path = write(tmp_path / "protocols" / f"{case}.yaml", text)
    result = cli("validate", str(path))
    assert result.code == 2 and "Traceback" not in result.err, result.err
    assert any(str(path) in line and field in line for line in result.lines), result.lines


@pytest.mark.parametrize(
    ("case", "text", "field"), PROTOCOL_CASES[:12], ids=[c[0] for c in PROTOCOL_CASES[:12]]
)
def test_bad_protocol_is_refused_by_run(
    cli: Callable[..., Result], tmp_path: Path, case: str, text: str, field: str
) -> None:
    path = write(tmp_path / "protocols" / f"{case}.yaml", text)
    write(tmp_path / "s.jsonl", SCENARIOS)
    result = cli("run", str(path), "--scenarios", "s.jsonl", "--model", "scripted", "--out", "r")
    refused(result, field)
    assert not (tmp_path / "r").exists()


AGENT_CASES = [
    (
        "rce-lipsum",
        edit(
            AGENT,
            "You are {{ name }}.",
            "{{ lipsum.__globals__['os'].popen('touch pwned').read() }}",
        ),
        "system",
    ),
    (
        "rce-cycler",
        edit(
            AGENT,
            "You are {{ name }}.",
            "{{ cycler.__init__.__globals__.os.popen('touch pwned').read() }}",
        ),
        "system",
    ),
    (
        "class-walk",
        edit(AGENT, "You are {{ name }}.", "{{ ''.__class__.__mro__[1].__subclasses__() }}"),
        "system",
    ),
    ("mro-walk", edit(AGENT, "You are {{ name }}.", "{{ question.__class__.__mro__ }}"), "__mro__"),
    ("globals-walk", edit(AGENT, "You are {{ name }}.", "{{ range.__globals__ }}"), "__globals__"),
    ("item-walk", edit(AGENT, "You are {{ name }}.", "{{ question['__class__'] }}"), "__class__"),
    ("init-walk", edit(AGENT, "You are {{ name }}.", "{{ namespace.__init__ }}"), "__init__"),
    ("memory-bomb", edit(AGENT, "You are {{ name }}.", "{{ 'a' * 10 ** 10 }}"), "system"),
    ("memory-bomb-format", edit(AGENT, "You are {{ name }}.", "{{ '%999999999d' % 1 }}"), "system"),
    (
        "memory-bomb-str-format",
        edit(AGENT, "You are {{ name }}.", "{{ '{:>999999999}'.format(1) }}"),
        "system",
    ),
    (
        "memory-bomb-filter",
        edit(AGENT, "You are {{ name }}.", "{{ 'x' | center(1000000000) }}"),
        "system",
    ),
    (
        "memory-bomb-method",
        edit(AGENT, "You are {{ name }}.", "{{ 'x'.ljust(1000000000) }}"),
        "system",
    ),
    ("power-bomb", edit(AGENT, "You are {{ name }}.", "{{ 7 ** 1000000 }}"), "system"),
    (
        "range-bomb",
        edit(AGENT, "You are {{ name }}.", "{% for i in range(1000000000) %}{% endfor %}"),
        "system",
    ),
    (
        "loop-bomb",
        edit(
            AGENT,
            "You are {{ name }}.",
            "{% for i in range(9000) %}{% for j in range(9000) %}{% endfor %}{% endfor %}",
        ),
        "system",
    ),
    (
        "doubling-bomb",
        edit(
            AGENT,
            "You are {{ name }}.",
            "{% set ns = namespace(x='ab') %}{% for i in range(40) %}"
            "{% set ns.x = ns.x ~ ns.x %}{% endfor %}",
        ),
        "system",
    ),
    ("syntax-if", edit(AGENT, "You are {{ name }}.", "{% if %}"), "system"),
    ("syntax-unclosed", edit(AGENT, "You are {{ name }}.", "{{ name"), "system"),
    ("syntax-endfor", edit(AGENT, "You are {{ name }}.", "{% endfor %}"), "system"),
    (
        "instruction-syntax",
        edit(AGENT, "Argue for {{ my_answer }}.", "Argue {% for %}"),
        "instruction",
    ),
    ("template-syntax", AGENT + "templates:\n  choose: '{{ }}'\n", "templates.choose"),
    ("max-tokens-negative", AGENT + "max_tokens: -1\n", "max_tokens"),
    ("max-tokens-zero", AGENT + "max_tokens: 0\n", "max_tokens"),
    ("max-tokens-huge", AGENT + "max_tokens: 100000000000\n", "max_tokens"),
    ("temperature-negative", AGENT + "temperature: -1\n", "temperature"),
    ("top-p-zero", AGENT + "top_p: 0\n", "top_p"),
    ("top-p-two", AGENT + "top_p: 2\n", "top_p"),
    ("best-of-zero", AGENT + "best_of: 0\n", "best_of"),
    ("best-of-huge", AGENT + "best_of: 100000\n", "best_of"),
    ("agent-word-limit", AGENT + "word_limit: 0\n", "word_limit"),
    ("agent-unknown-key", AGENT + "sytem: x\n", "sytem"),
    ("agent-no-system", "name: a\ninstruction: hi\n", "system"),
    ("agent-system-list", "name: a\nsystem: [1, 2]\n", "system"),
    ("agent-templates-list", AGENT + "templates: [a]\n", "templates"),
]


@pytest.mark.parametrize(("case", "text", "field"), AGENT_CASES, ids=[c[0] for c in AGENT_CASES])
def test_bad_agent_is_refused_by_validate_and_runs_nothing(
    cli: Callable[..., Result], tmp_path: Path, case: str, text: str, field: str
) -> None:
    path = write(tmp_path / "agents" / "a.yaml", text)
    result = cli("validate", str(path))
    refused(result, str(path), field)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("case", "text", "field"), AGENT_CASES[:16], ids=[c[0] for c in AGENT_CASES[:16]]
)
def test_template_payloads_are_refused_by_run_and_create_nothing(
    cli: Callable[..., Result], tmp_path: Path, case: str, text: str, field: str
) -> None:
    write(tmp_path / "agents" / "a.yaml", text)  # the user's folder shadows the built-ins
    write(tmp_path / "protocols" / "p.yaml", PROTOCOL.replace("agent: debater", "agent: a"))
    write(tmp_path / "s.jsonl", SCENARIOS)
    result = cli("run", "p", "--scenarios", "s.jsonl", "--model", "scripted", "--out", "r")
    refused(result, "a.yaml", field)
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "r").exists()


def test_undefined_template_variable_is_refused_in_its_protocol(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    write(tmp_path / "agents" / "a.yaml", edit(AGENT, "{{ question }}", "{{ questoin }}"))
    path = write(tmp_path / "protocols" / "p.yaml", PROTOCOL.replace("agent: debater", "agent: a"))
    result = cli("validate", str(path))
    refused(result, "a.yaml", "system", "questoin")


JUDGE_CASES = [
    ("regex-invalid", JUDGE + "parse_pattern: '([A-Z'\n", "parse_pattern"),
    ("regex-no-group", JUDGE + "parse_pattern: 'Answer: [A-Z]'\n", "parse_pattern"),
    ("confidence-one-group", JUDGE + "confidence_pattern: '([0-9]+)'\n", "confidence_pattern"),
    ("confidence-invalid", JUDGE + "confidence_pattern: '(('\n", "confidence_pattern"),
    ("retries-huge", JUDGE + "retries: 1000000\n", "retries"),
    ("retries-negative", JUDGE + "retries: -1\n", "retries"),
    ("choices-empty", JUDGE + "choices: []\n", "choices"),
    ("choices-repeat", JUDGE + "choices: [A, A]\n", "choices"),
    ("choices-blank", JUDGE + "choices: ['A', ' ']\n", "choices"),
    ("method-unknown", JUDGE + "method: vote\n", "method"),
    ("judge-max-tokens", JUDGE + "max_tokens: 0\n", "max_tokens"),
    ("judge-ask-max-tokens", JUDGE + "ask_max_tokens: -3\n", "ask_max_tokens"),
    ("judge-no-instruction", "name: j\nsystem: hi\nmethod: parse\n", "instruction"),
    ("judge-unknown-key", JUDGE + "method: parse\nretires: 3\n", "retires"),
    ("judge-rce", edit(JUDGE, "Judge the question", "{{ self.__init__.__globals__ }}"), "system"),
    ("judge-retry-syntax", JUDGE + "retry_instruction: '{% if %}'\n", "retry_instruction"),
    ("judge-ask-bomb", JUDGE + "ask: \"{{ 'q' * 100000000 }}\"\n", "ask"),
]


@pytest.mark.parametrize(("case", "text", "field"), JUDGE_CASES, ids=[c[0] for c in JUDGE_CASES])
def test_bad_judge_is_refused_by_validate(
    cli: Callable[..., Result], tmp_path: Path, case: str, text: str, field: str
) -> None:
    path = write(tmp_path / "judges" / "j.yaml", text)
    refused(cli("validate", str(path)), str(path), field)


def test_defends_beyond_the_judges_choice_labels(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    write(tmp_path / "judges" / "j.yaml", JUDGE + "choices: [A, B]\n")
    protocol = PROTOCOL.replace("qa-judge", "j").replace("defends: 1", "defends: 2")
    path = write(tmp_path / "protocols" / "p.yaml", protocol)
    refused(cli("validate", str(path)), str(path), "roles.debater_b.defends")


SCENARIO_SET_CASES = [
    ("loader", "loader: foo\npath: x.jsonl\n", "loader"),
    ("no-path", "loader: jsonl\n", "path"),
    ("limit-zero", "loader: jsonl\npath: s.jsonl\nlimit: 0\n", "limit"),
    ("filter", "loader: nyu\npath: x\nfilters: {colour: red}\n", "filters"),
    ("fields-loader", "loader: logicom\npath: x\nfields: {question: q}\n", "fields"),
    ("fields-key", "loader: jsonl\npath: s.jsonl\nfields: {questoin: q}\n", "fields"),
    ("data-missing", "loader: jsonl\npath: nothere.jsonl\n", "path"),
    ("unknown-key", "loader: jsonl\npath: s.jsonl\nlimt: 3\n", "limt"),
]


@pytest.mark.parametrize(
    ("case", "text", "field"), SCENARIO_SET_CASES, ids=[c[0] for c in SCENARIO_SET_CASES]
)
def test_bad_scenario_set_is_refused(
    cli: Callable[..., Result], tmp_path: Path, case: str, text: str, field: str
) -> None:
    write(tmp_path / "s.jsonl", SCENARIOS)
    path = write(tmp_path / "scenarios" / "set.yaml", text)
    refused(cli("validate", str(path)), "set.yaml", field)


# ------------------------------------------------------------------ files themselves

DEEP_YAML = "a: " + "[" * 20000 + "]" * 20000 + "\n"
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)
FILE_CASES: list[tuple[str, str | bytes, str]] = [
    ("latin-1", "name: caf\u00e9\nsystem: x\n".encode("latin-1"), "not UTF-8"),
    ("binary", bytes(range(256)), "not UTF-8"),
    ("deep", DEEP_YAML, "nested"),
    ("laughs", LAUGHS + "system: x\n", "expands"),
    ("empty", "", "mapping"),
    ("list", "- a\n- b\n", "mapping"),
    ("tab-syntax", "name: a\n\tsystem: x\n", "invalid YAML"),
    ("unclosed", "name: [a\n", "invalid YAML"),
    ("huge", "name: a\nsystem: " + "x" * 10_500_000 + "\n", "limit"),
]


@pytest.mark.parametrize(("case", "content", "reason"), FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_bad_yaml_files_are_one_line(
    cli: Callable[..., Result], tmp_path: Path, case: str, content: str | bytes, reason: str
) -> None:
    path = write(tmp_path / "agents" / "a.yaml", content)
    refused(cli("validate", str(path)), str(path), reason)


@pytest.mark.parametrize(
    ("case", "content", "reason"), FILE_CASES[:5], ids=[c[0] for c in FILE_CASES[:5]]
)
def test_bad_protocol_files_are_one_line_at_run(
    cli: Callable[..., Result], tmp_path: Path, case: str, content: str | bytes, reason: str
) -> None:
    path = write(tmp_path / "p.yaml", content)
    refused(cli("run", str(path), "--model", "scripted", "--out", "r"), str(path), reason)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_fifo_is_refused_not_opened(
    cli: Callable[..., Result], tmp_path: Path, command: str
) -> None:
    fifo = tmp_path / "p.yaml"
    os.mkfifo(fifo)  # opening it would block until someone writes
    args = [command, str(fifo)] + (["--model", "scripted"] if command == "run" else [])
    refused(cli(*args), str(fifo), "not a regular file")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".json"])
def test_a_fifo_as_data_is_refused(cli: Callable[..., Result], tmp_path: Path, suffix: str) -> None:
    fifo = tmp_path / f"data{suffix}"
    os.mkfifo(fifo)
    result = cli("run", "debate", "--scenarios", str(fifo), "--model", "scripted", "--out", "r")
    refused(result, f"data{suffix}", "not a regular file")


# ------------------------------------------------------------------ data files


def jsonl(*records: object) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


GOOD = {"id": "q1", "question": "Is it?", "answers": ["yes", "no"], "correct_index": 0}
DATA_CASES: list[tuple[str, str | bytes, str]] = [
    ("invalid-json", jsonl(GOOD, "{nope"), "line 2"),
    ("not-object", jsonl(GOOD, [1, 2, 3]), "line 2"),
    ("no-question", jsonl({"id": "x", "answers": ["a", "b"]}), "question"),
    ("question-int", jsonl({**GOOD, "question": 5}), "question"),
    ("answers-str", jsonl({**GOOD, "answers": "yes"}), "answers"),
    ("answers-ints", jsonl({**GOOD, "answers": [1, 2]}), "answers"),
    (
        "answers-empty",
        jsonl(GOOD, {**GOOD, "id": "q2", "answers": [], "correct_index": None}),
        "line 2",
    ),
    ("answers-fifty", jsonl({**GOOD, "answers": [f"a{i}" for i in range(50)]}), "answers"),
    ("correct-out", jsonl({**GOOD, "correct_index": 5}), "correct_index"),
    ("correct-bool", jsonl({**GOOD, "correct_index": True}), "correct_index"),
    (
        "correct-answer",
        jsonl({**GOOD, "correct_index": None, "correct_answer": "maybe"}),
        "correct_answer",
    ),
    ("story-int", jsonl({**GOOD, "story": 3}), "story"),
    ("duplicate-id", jsonl(GOOD, GOOD), "duplicate"),
    ("id-list", jsonl({**GOOD, "id": ["a"]}), "id"),
    ("deep-json", jsonl(GOOD) + "[" * 20000 + "]" * 20000 + "\n", "line 2"),
    ("latin-1", ('{"id": "q", "question": "caf\u00e9"}\n').encode("latin-1"), "UTF-8"),
    ("empty", "", "no scenarios"),
    ("blank-lines", "\n\n", "no scenarios"),
]


@pytest.mark.parametrize(("case", "content", "reason"), DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_bad_jsonl_data_names_file_and_line(
    cli: Callable[..., Result], tmp_path: Path, case: str, content: str | bytes, reason: str
) -> None:
    write(tmp_path / "data.jsonl", content)
    result = cli("run", "debate", "--scenarios", "data.jsonl", "--model", "scripted", "--out", "r")
    refused(result, "data.jsonl", reason)
    assert not (tmp_path / "r").exists()


OTHER_DATA: list[tuple[str, str, str | bytes, str]] = [
    ("csv-header", "d.csv", "a,b\n1,2\n", "header"),
    (
        "csv-best-missing",
        "d.csv",
        "Question,Best Answer,Incorrect Answers\nQ?,,wrong\n",
        "Best Answer",
    ),
    (
        "csv-latin",
        "d.csv",
        "Question,Best Answer,Incorrect Answers\nQ\xe9,a,b\n".encode("latin-1"),
        "UTF-8",
    ),
    ("txt", "d.txt", "hello\n", "unrecognised"),
    ("nyu-invalid", "d.json", "{nope", "invalid JSON"),
    ("nyu-no-setup", "d.json", "{}", "setup"),
    (
        "nyu-answers",
        "d.json",
        json.dumps({"setup": {"question": "Q?", "answers": "a"}}),
        "setup.answers",
    ),
    (
        "nyu-correct",
        "d.json",
        json.dumps({"setup": {"question": "Q?", "answers": ["a", "b"], "correctAnswerIndex": 4}}),
        "correctAnswerIndex",
    ),
    ("nyu-deep", "d.json", "[" * 20000 + "]" * 20000, "d.json"),
]


@pytest.mark.parametrize(
    ("case", "name", "content", "reason"), OTHER_DATA, ids=[c[0] for c in OTHER_DATA]
)
def test_bad_data_of_other_formats(
    cli: Callable[..., Result],
    tmp_path: Path,
    case: str,
    name: str,
    content: str | bytes,
    reason: str,
) -> None:
    write(tmp_path / name, content)
    result = cli("run", "debate", "--scenarios", name, "--model", "scripted", "--out", "r")
    refused(result, name, reason)


def test_folder_without_debates(cli: Callable[..., Result], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = cli("run", "debate", "--scenarios", "empty/", "--model", "scripted", "--out", "r")
    refused(result, "empty", "NYU")


def test_judge_with_more_labels_than_answers(cli: Callable[..., Result], tmp_path: Path) -> None:
    write(tmp_path / "judges" / "j.yaml", JUDGE + "method: parse\nchoices: [A, B, C]\n")
    write(tmp_path / "protocols" / "p.yaml", PROTOCOL.replace("qa-judge", "j"))
    write(tmp_path / "s.jsonl", SCENARIOS)
    result = cli("run", "p", "--scenarios", "s.jsonl", "--model", "scripted", "--out", "r")
    refused(result, "s.jsonl", "line 1", "choice labels")


def test_judge_with_fewer_labels_than_answers(cli: Callable[..., Result], tmp_path: Path) -> None:
    write(tmp_path / "judges" / "j.yaml", JUDGE + "method: parse\nchoices: [A, B]\n")
    write(tmp_path / "protocols" / "p.yaml", PROTOCOL.replace("qa-judge", "j"))
    write(tmp_path / "s.jsonl", jsonl({**GOOD, "answers": ["a", "b", "c"]}))
    result = cli("run", "p", "--scenarios", "s.jsonl", "--model", "scripted", "--out", "r")
    refused(result, "s.jsonl", "line 1", "choice labels")
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------ options

OPTION_CASES: list[tuple[str, list[str], str]] = [
    ("limit-zero", ["--limit", "0"], "--limit"),
    ("limit-negative", ["--limit", "-1"], "--limit"),
    ("limit-word", ["--limit", "abc"], "--limit"),
    ("seed-word", ["--seed", "x"], "--seed"),
    ("concurrency-zero", ["--concurrency", "0"], "--concurrency"),
    ("repeats-zero", ["--repeats", "0"], "--repeats"),
    ("repeats-huge", ["--repeats", "100000000"], "--repeats"),
    ("url-not-url", ["--model-base-url", "not a url"], "--model-base-url"),
    ("url-ftp", ["--model-base-url", "ftp://127.0.0.1/v1"], "--model-base-url"),
    ("url-port", ["--model-base-url", "http://127.0.0.1:99999/v1"], "--model-base-url"),
    ("url-role-empty", ["--model-base-url", "judge="], "--model-base-url"),
    ("model-empty-role", ["--model", "=scripted"], "--model"),
    ("model-unknown", ["--model", "nosuch"], "nosuch"),
    ("model-role-unknown", ["--model", "jugde=scripted"], "jugde"),
    ("openai-no-name", ["--model", "openai/"], "openai"),
    ("variant-bad", ["--variant", "bad"], "--variant"),
    ("variant-empty", ["--variant", "k="], "--variant"),
    ("executor", ["--executor", "spark"], "--executor"),
    ("workers-zero", ["--workers", "0"], "--workers"),
    ("store-prompts", ["--store-prompts", "some"], "--store-prompts"),
    ("force-alone", ["--force"], "--force"),
    (
        "max-connections",
        [
            "--max-connections",
            "0",
            "--model",
            "openai/m",
            "--model-base-url",
            "http://127.0.0.1:9/v1",
        ],
        "--max-connections",
    ),
    ("unknown-option", ["--bogus"], "--bogus"),
    ("scenarios-missing", ["--scenarios", "nothere.jsonl"], "nothere.jsonl"),
    ("scenarios-name", ["--scenarios", "nosuch-set"], "nosuch-set"),
    ("fallacy", ["--fallacy", "nosuch"], "--fallacy"),
]


@pytest.mark.parametrize(("case", "args", "named"), OPTION_CASES, ids=[c[0] for c in OPTION_CASES])
def test_bad_run_options(
    cli: Callable[..., Result], case: str, args: list[str], named: str
) -> None:
    result = cli(
        "run",
        "debate",
        "--out",
        "r",
        *(["--model", "scripted"] if "--model" not in args else []),
        *args,
    )
    refused(result, named)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["run", "nosuch-protocol"], "nosuch-protocol"),
        (["run", "missing/p.yaml"], "missing/p.yaml"),
        (["run"], "protocol"),
        (["list", "nosuch"], "nosuch"),
        (["nosuchcommand"], "nosuchcommand"),
        (["validate", "nothere.yaml"], "nothere.yaml"),
        (["report", "nothere"], "nothere"),
        (
            ["serve-reward", "--port", "70000", "--judge", "scripted", "--debater", "scripted"],
            "--port",
        ),
        (
            ["serve-reward", "--port", "-1", "--judge", "scripted", "--debater", "scripted"],
            "--port",
        ),
        (
            ["serve-reward", "--workers", "0", "--judge", "scripted", "--debater", "scripted"],
            "--workers",
        ),
        (["serve-reward", "--debater", "nosuch", "--judge", "scripted"], "nosuch"),
        (["serve-reward", "--judge", "nosuch", "--debater", "scripted"], "nosuch"),
        (["serve-reward", "--protocol", "nosuch", "--judge", "scripted"], "nosuch"),
        (["serve-reward", "--reward", "nosuch", "--judge", "scripted"], "mode"),
        (["serve-reward", "--lambda", "2", "--judge", "scripted"], "lam"),
        (
            ["serve-reward", "--labels", "nosuch", "--judge", "scripted", "--debater", "scripted"],
            "--labels",
        ),
        (
            [
                "serve-reward",
                "--alternative",
                "bogus",
                "--judge",
                "scripted",
                "--debater",
                "scripted",
            ],
            "--alternative",
        ),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, list) else str(value),
)
def test_bad_commands(cli: Callable[..., Result], args: list[str], named: str) -> None:
    refused(cli(*args), named)


def test_a_bad_openai_base_url_in_the_environment(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "not a url")
    refused(cli("run", "debate", "--model", "openai/m", "--out", "r"), "OPENAI_BASE_URL")


def test_the_protocol_folder_is_not_a_file(cli: Callable[..., Result], tmp_path: Path) -> None:
    (tmp_path / "p.yaml").mkdir()
    refused(cli("validate", str(tmp_path / "p.yaml")), "p.yaml", "folder")


# ------------------------------------------------------------------ run folders


def make_run(cli: Callable[..., Result], tmp_path: Path) -> Path:
    write(tmp_path / "s.jsonl", SCENARIOS)
    result = cli(
        "run", "debate", "--scenarios", "s.jsonl", "--model", "scripted", "--out", "r", "--no-show"
    )
    assert result.code == 0, result.err
    return tmp_path / "r"


def test_out_under_a_file(cli: Callable[..., Result], tmp_path: Path) -> None:
    write(tmp_path / "afile", "x")
    refused(cli("run", "debate", "--model", "scripted", "--out", "afile/run"), "--out", "afile")


def test_out_is_a_file(cli: Callable[..., Result], tmp_path: Path) -> None:
    write(tmp_path / "afile", "x")
    refused(cli("run", "debate", "--model", "scripted", "--out", "afile"), "--out", "afile")


def test_out_cannot_be_created(cli: Callable[..., Result]) -> None:
    refused(cli("run", "debate", "--model", "scripted", "--out", "/proc/debate-run"), "--out")


def test_out_holds_a_run_without_resume(cli: Callable[..., Result], tmp_path: Path) -> None:
    make_run(cli, tmp_path)
    result = cli("run", "debate", "--scenarios", "s.jsonl", "--model", "scripted", "--out", "r")
    refused(result, "--out", "--resume")


BROKEN_RECORDS: list[tuple[str, str | bytes, str]] = [
    ("list", "[1, 2, 3]\n", "line 1"),
    ("no-id", '{"foo": 1}\n', "line 1"),
    ("id-list", '{"id": ["a"]}\n', "line 1"),
    ("id-only", '{"id": "a"}\n', "line 1"),
    ("invalid-json", "{nope\n", "line 1"),
    ("latin-1", '{"id": "caf\xe9"}\n'.encode("latin-1"), "UTF-8"),
    ("deep", "[" * 20000 + "]" * 20000 + "\n", "line 1"),
]


@pytest.mark.parametrize(
    ("case", "content", "reason"), BROKEN_RECORDS, ids=[c[0] for c in BROKEN_RECORDS]
)
@pytest.mark.parametrize("command", ["resume", "report"])
def test_broken_transcripts(
    cli: Callable[..., Result],
    tmp_path: Path,
    case: str,
    content: str | bytes,
    reason: str,
    command: str,
) -> None:
    run = make_run(cli, tmp_path)
    write(run / "transcripts.jsonl", content)
    if command == "report":
        result = cli("report", str(run))
    else:
        result = cli(
            "run",
            "debate",
            "--scenarios",
            "s.jsonl",
            "--model",
            "scripted",
            "--out",
            "r",
            "--resume",
        )
    refused(result, "transcripts.jsonl", reason)


@pytest.mark.parametrize("command", ["resume", "report"])
def test_transcripts_that_are_a_folder(
    cli: Callable[..., Result], tmp_path: Path, command: str
) -> None:
    run = make_run(cli, tmp_path)
    (run / "transcripts.jsonl").unlink()
    (run / "transcripts.jsonl").mkdir()
    if command == "report":
        result = cli("report", str(run))
    else:
        result = cli(
            "run",
            "debate",
            "--scenarios",
            "s.jsonl",
            "--model",
            "scripted",
            "--out",
            "r",
            "--resume",
        )
    refused(result, "transcripts.jsonl", "folder")


def test_broken_failures_file(cli: Callable[..., Result], tmp_path: Path) -> None:
    run = make_run(cli, tmp_path)
    write(run / "failures.jsonl", "[1]\n")
    refused(cli("report", str(run)), "failures.jsonl", "line 1")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--seed", "5"], "seed 0 there, 5 here"),
        (["--protocol-swap"], "protocol"),
        (["--model", "debater=scripted/invalid"], "models"),
        (["--repeats", "2"], "units"),
        (["--scenarios", "other.jsonl"], "scenarios"),
    ],
    ids=["seed", "protocol", "model", "repeats", "scenarios"],
)
def test_resume_into_another_experiment_is_refused(
    cli: Callable[..., Result], tmp_path: Path, args: list[str], reason: str
) -> None:
    run = make_run(cli, tmp_path)
    write(tmp_path / "other.jsonl", SCENARIOS.replace("Is it?", "Is it not?"))
    protocol = "debate"
    if args == ["--protocol-swap"]:
        protocol, args = "consultancy", []
    if "--model" not in args:
        args = [*args, "--model", "scripted"]
    if "--scenarios" not in args:
        args = [*args, "--scenarios", "s.jsonl"]
    before = (run / "spec.yaml").read_text()
    result = cli("run", protocol, "--out", "r", "--resume", *args)
    refused(result, "--resume", reason)
    assert (run / "spec.yaml").read_text() == before


def test_resume_with_a_new_base_url_and_force_are_recorded(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    import yaml

    run = make_run(cli, tmp_path)
    base = ["run", "debate", "--scenarios", "s.jsonl", "--out", "r", "--resume"]
    assert cli(*base, "--model", "scripted", "--model-base-url", "http://127.0.0.1:9/v1").code == 0
    assert cli(*base, "--model", "scripted", "--seed", "4", "--force").code == 0
    spec = yaml.safe_load((run / "spec.yaml").read_text())
    assert spec["seed"] == 0  # the original provenance is never overwritten
    events = [entry["event"] for entry in spec["history"]]
    assert events == ["started", "resumed", "forced resume"]
    assert spec["history"][1]["models"]["base_urls"] == {"*": "http://127.0.0.1:9/v1"}
    assert "seed 0 there, 4 here" in spec["history"][2]["differs"]


def test_spec_that_is_not_a_mapping(cli: Callable[..., Result], tmp_path: Path) -> None:
    run = make_run(cli, tmp_path)
    write(run / "spec.yaml", "- a\n")
    result = cli(
        "run", "debate", "--scenarios", "s.jsonl", "--model", "scripted", "--out", "r", "--resume"
    )
    refused(result, "spec.yaml", "mapping")


def test_report_on_a_folder_it_cannot_write(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(cli, tmp_path)
    (run / "summary.json").unlink()
    import debate.analysis.report as report

    def read_only(*_: object) -> None:
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(report, "write_summary", read_only)
    result = cli("report", str(run))
    assert result.code == 0 and "judge accuracy" in result.out.lower(), result.err
    assert "not written" in result.err and "Traceback" not in result.err
    assert cli("report", str(run), "--write").code == 2


def test_report_no_write_leaves_the_folder_alone(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    run = make_run(cli, tmp_path)
    (run / "summary.json").unlink()
    assert cli("report", str(run), "--no-write").code == 0
    assert not (run / "summary.json").exists()


def test_report_on_a_folder_that_is_no_run(cli: Callable[..., Result], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    refused(cli("report", str(tmp_path / "empty")), "empty", "transcripts.jsonl")


# ------------------------------------------------------------------ reward requests

REQUESTS: list[tuple[str, object, str]] = [
    ("not-object", [1, 2], "body"),
    ("no-query", {"prompts": []}, "query"),
    ("query-ints", {"query": [1, 2]}, "query"),
    ("query-str", {"query": "abc"}, "query"),
    ("prompts-short", {"query": ["a", "b"], "prompts": ["a"]}, "prompts"),
    ("prompts-ints", {"query": ["a"], "prompts": [1]}, "prompts"),
    ("labels-dict", {"query": ["a"], "labels": {"a": 1}}, "labels"),
    ("labels-short", {"query": ["a", "b"], "labels": ["x"]}, "labels"),
    ("label-key", {"query": ["a"], "labels": [{"golden": "x"}]}, "labels[0]"),
    ("label-gold-int", {"query": ["a"], "labels": [{"gold": 3}]}, "labels[0].gold"),
    (
        "label-alternative-list",
        {"query": ["a"], "labels": [{"alternative": ["x"]}]},
        "labels[0].alternative",
    ),
    ("label-bool", {"query": ["a"], "labels": [True]}, "labels[0]"),
    ("label-story-int", {"query": ["a"], "labels": [{"story": 1}]}, "labels[0].story"),
]


@pytest.mark.parametrize(("case", "body", "named"), REQUESTS, ids=[c[0] for c in REQUESTS])
def test_bad_reward_requests_are_one_line(case: str, body: object, named: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_request(body)
    message = str(caught.value)
    assert "\n" not in message and named in message, message
