"""The live view: state from events, plain lines, frames, `debate run --live` in a real
terminal (tmux), and `debate watch` replaying and following run directories."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DEBATE, run_cli
from rich.console import Console

from debate.core.events import (
    Event,
    TextDelta,
    TurnFinished,
    TurnStarted,
    UnitFailed,
    UnitFinished,
    UnitStarted,
    VerdictGiven,
)
from debate.live.render import render_frame, turn_text
from debate.live.view import LiveState, LiveView, PlainView, make_view
from debate.live.watch import play, record_events, watch_records

TURN_LINE = re.compile(r"^\[unit (\d+)\] round (\d+) (debater_[ab]): (\S.*)$")
VERDICT_LINE = re.compile(
    r"^\[unit (\d+)\] verdict: A (\d\.\d\d) / B (\d\.\d\d) \(correct: [AB]\)$"
)
BAR = re.compile(r"\b([AB]) ([█░]{30}) (\d\.\d\d)\b")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def started(unit: str, rounds: int = 2) -> UnitStarted:
    return UnitStarted(
        unit,
        "debate",
        "Is the sky blue?",
        ("Yes", "No"),
        ("debater_a", "debater_b", "judge"),
        rounds,
    )


def finished(unit: str, correct: bool = True) -> UnitFinished:
    return UnitFinished(
        unit, {"id": unit, "correct": correct, "correct_index": 0, "defends": {"debater_a": 0}}
    )


def test_state_streams_text_then_replaces_it_with_the_final_turn() -> None:
    state = LiveState(1)
    state.apply(started("u1"))
    state.apply(TurnStarted("u1", 1, "debater_a", "Debater A", "speech"))
    state.apply(TextDelta("u1", "debater_a", "<argument>The sky"))
    state.apply(TextDelta("u1", "debater_a", " is blue"))
    unit = state.units["u1"]
    speaker = unit.speakers["debater_a"]
    assert speaker.streaming and speaker.turns[-1].text == "<argument>The sky is blue"
    assert unit.round == 1 and unit.activity == "speech: Debater A"
    state.apply(
        TurnFinished("u1", 1, "debater_a", "Debater A", "speech", "The sky is blue.", (), 5)
    )
    assert not speaker.streaming and speaker.turns[-1].text == "The sky is blue."
    assert state.tokens == 5
    state.apply(TurnStarted("u1", 1, "judge", "Judge", "verdict"))
    assert "judge" not in unit.speakers and unit.activity == "judging: Judge"
    state.apply(VerdictGiven("u1", 1, "judge", (0.2, 0.8), True, False))
    assert unit.lean == (1, 0.8) and unit.correct_index is None
    state.apply(VerdictGiven("u1", 2, "judge", (0.7, 0.3), True, True, 0))
    assert unit.lean == (0, 0.7) and unit.correct_index == 0
    state.apply(finished("u1"))
    assert unit.status == "done" and unit.correct is True and state.done == 1


def test_focus_moves_to_the_next_live_unit_after_the_linger() -> None:
    clock = Clock()
    state = LiveState(3, linger=1.0, clock=clock)
    for unit in ("u1", "u2", "u3"):
        state.apply(started(unit))
    focused = state.focused()
    assert focused is not None and focused.unit == "u1"
    state.apply(finished("u1"))
    focused = state.focused()
    assert focused is not None and focused.unit == "u1"  # the verdict stays on screen a moment
    clock.now += 1.5
    focused = state.focused()
    assert focused is not None and focused.unit == "u2"
    state.apply(UnitFailed("u2", "RuntimeError: boom"))
    clock.now += 1.5
    focused = state.focused()
    assert focused is not None and focused.unit == "u3"
    state.apply(finished("u3"))
    clock.now += 10
    focused = state.focused()
    assert focused is not None and focused.unit == "u3"  # nothing live: the last one stays
    state.apply(started("u4"))
    focused = state.focused()
    assert focused is not None and focused.unit == "u4" and state.failed == 1


def test_plain_view_lines() -> None:
    out = io.StringIO()
    view = PlainView(Console(file=out, width=80), total=2)
    with view:
        view.handle(started("debate/q1/orig"))
        view.handle(started("debate/q1/swap"))
        view.handle(TurnStarted("debate/q1/swap", 2, "debater_a", "Debater A", "speech"))
        view.handle(TextDelta("debate/q1/swap", "debater_a", "ignored"))
        view.handle(
            TurnFinished(
                "debate/q1/swap",
                2,
                "debater_a",
                "Debater A",
                "speech",
                "It is\n<quote>blue</quote>  today.",
                (("blue", True),),
            )
        )
        view.handle(VerdictGiven("debate/q1/swap", 2, "judge", (0.71, 0.29), True, False))
        view.handle(VerdictGiven("debate/q1/swap", 2, "judge", (0.71, 0.29), True, True, 1))
        view.handle(VerdictGiven("debate/q1/orig", 2, "judge", None, False, True, 0))
        view.handle(UnitFailed("debate/q1/orig", "TimeoutError: slow\nserver"))
    lines = out.getvalue().splitlines()
    assert lines == [
        "[unit 1] start debate/q1/orig: Is the sky blue? A: Yes | B: No",
        "[unit 2] start debate/q1/swap: Is the sky blue? A: Yes | B: No",
        "[unit 2] round 2 debater_a: It is <quote>blue</quote> today. "
        "[quotes: 1 verified, 0 unverified]",
        "[unit 2] round 2 feedback (judge): A 0.71 / B 0.29",
        "[unit 2] verdict: A 0.71 / B 0.29 (correct: B)",
        "[unit 1] verdict: invalid (correct: A)",
        "[unit 1] failed: TimeoutError: slow server",
    ]
    assert "\x1b" not in out.getvalue()


def test_quotes_are_marked_by_their_check() -> None:
    state = LiveState(1)
    state.apply(started("u"))
    state.apply(TurnStarted("u", 1, "debater_a", "Debater A", "speech"))
    state.apply(
        TextDelta("u", "debater_a", "<argument>See <quote>x y</quote> and <quote>z</quote>.")
    )
    turn = state.units["u"].speakers["debater_a"].turns[-1]
    assert turn_text(turn, True).plain == "See “x y”? and “z”?."  # not checked yet
    text = "See <quote>x y</quote> and <quote>z</quote>."
    state.apply(
        TurnFinished(
            "u", 1, "debater_a", "Debater A", "speech", text, (("x y", True), ("z", False))
        )
    )
    rendered = turn_text(turn, True)
    assert rendered.plain == "See “x y”✓ and “z”✗."
    styles = {rendered.plain[span.start : span.end]: str(span.style) for span in rendered.spans}
    assert styles["“x y”✓"] != styles["“z”✗"]


def frame_text(state: LiveState, width: int = 140, height: int = 45) -> str:
    console = Console(file=io.StringIO(), width=width, height=height, record=True)
    console.print(render_frame(state, console))
    return console.export_text()


def test_frame_shows_speakers_side_by_side_bars_and_the_unit_table() -> None:
    state = LiveState(2, linger=60.0)  # the finished unit stays in focus
    state.apply(started("debate/q1/orig", rounds=3))
    state.apply(started("debate/q1/swap", rounds=3))
    for role, speaker, words in (
        ("debater_a", "Debater A", "Clear skies scatter blue light."),
        ("debater_b", "Debater B", "At night the sky is black."),
    ):
        state.apply(TurnStarted("debate/q1/orig", 2, role, speaker, "speech"))
        state.apply(TextDelta("debate/q1/orig", role, words))
    state.apply(VerdictGiven("debate/q1/orig", 1, "judge", (0.6, 0.4), True, False))
    text = frame_text(state)
    assert "round 2/3" in text
    panel_row = next(line for line in text.splitlines() if "Debater A" in line)
    assert "Debater B" in panel_row  # side by side
    assert "Clear skies scatter blue light." in text and "At night the sky is black." in text
    assert "speaking…" in text
    bars = {label: (cells, float(p)) for label, cells, p in BAR.findall(text)}
    assert bars["A"] == ("█" * 18 + "░" * 12, 0.6) and bars["B"][1] == 0.4
    assert "debate/q1/swap" in text and "in flight 2" in text
    assert "✓ correct" not in text
    state.apply(VerdictGiven("debate/q1/orig", 3, "judge", (0.1, 0.9), True, True, 0))
    state.apply(finished("debate/q1/orig", correct=False))
    text = frame_text(state)
    assert "✓ correct" in text and "judge wrong" in text and "R1 A 0.60 → R3 B 0.90" in text


def test_live_view_renders_only_on_its_refresh_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import debate.live.render

    calls = 0
    original = debate.live.render.render_frame

    def counting(*args: object) -> object:
        nonlocal calls
        calls += 1
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(debate.live.render, "render_frame", counting)
    console = Console(file=io.StringIO(), width=120, height=40, force_terminal=True)
    view = make_view(console=console, plain=False, total=1)
    assert isinstance(view, LiveView)
    before = calls
    view.handle(started("u"))
    for number in range(2000):
        view.handle(TurnStarted("u", 1, "debater_a", "Debater A", "speech"))
        view.handle(TextDelta("u", "debater_a", f"word{number}"))
    assert calls == before  # handling events never draws


def run_record(tmp_path: Path, *extra: str) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path / "run"
    result = run_cli(
        "run", "debate", "--model", "scripted", "--limit", "2", "--out", str(out), *extra
    )
    assert result.returncode == 0, result.stderr
    return out, result


def test_live_run_piped_to_a_file_prints_plain_lines(tmp_path: Path) -> None:
    out = tmp_path / "run"
    log = tmp_path / "live.log"
    with log.open("w") as handle:
        result = subprocess.run(
            [DEBATE, "run", "debate", "--model", "scripted", "--limit", "2", "--live"]
            + ["--out", str(out)],
            stdout=handle,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    assert result.returncode == 0, result.stderr
    text = log.read_text()
    assert "\x1b" not in text
    turns = [TURN_LINE.match(line) for line in text.splitlines()]
    verdicts = [VERDICT_LINE.match(line) for line in text.splitlines()]
    turn_matches = [m for m in turns if m]
    verdict_matches = [m for m in verdicts if m]
    assert len(turn_matches) == 4 * 6 and len(verdict_matches) == 4
    assert {m.group(1) for m in verdict_matches} == {"1", "2", "3", "4"}
    for match in verdict_matches:
        assert abs(float(match.group(2)) + float(match.group(3)) - 1) < 0.011
    records = [json.loads(line) for line in (out / "transcripts.jsonl").read_text().splitlines()]
    said = {(m.group(3), m.group(4)) for m in turn_matches}
    for record in records:
        for message in record["messages"]:
            assert (message["role"], " ".join(message["text"].split())) in said
    assert "judge accuracy" in text  # the runner's summary table follows


def test_watch_replays_a_stored_run_as_the_run_printed_it(tmp_path: Path) -> None:
    out, ran = run_record(tmp_path, "--plain", "--concurrency", "1")
    watched = run_cli("watch", str(out), "--speed", "0")
    assert watched.returncode == 0, watched.stderr

    def events(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith("[unit ")]

    assert events(watched.stdout) == events(ran.stdout)
    assert len(events(watched.stdout)) == 4 * 9
    assert "judge accuracy" in watched.stdout

    one = run_cli("watch", str(out), "--unit", "truthfulqa-1/swap", "--plain", "--speed", "0")
    assert one.returncode == 0, one.stderr
    assert events(one.stdout)[0].startswith("[unit 1] start debate/truthfulqa-1/swap:")
    assert all(line.startswith("[unit 1]") for line in events(one.stdout))

    missing = run_cli("watch", str(out), "--unit", "nope")
    assert missing.returncode == 2 and "--unit: 'nope'" in missing.stderr
    bad = run_cli("watch", str(tmp_path / "absent"))
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0


def test_replayed_events_pause_by_words_and_keep_intermediate_verdicts(tmp_path: Path) -> None:
    out, _ = run_record(tmp_path)
    record = json.loads((out / "transcripts.jsonl").read_text().splitlines()[0])
    record["verdicts"].insert(0, {**record["final_verdict"], "round": 1, "final": False})
    steps = list(record_events(record))
    kinds = [type(event).__name__ for _, event in steps]
    words = sum(len(m["text"].split(" ")) for m in record["messages"])
    assert kinds.count("TextDelta") == words
    first_feedback = kinds.index("VerdictGiven")
    assert kinds[:first_feedback].count("TurnFinished") == 2  # after round 1's two speeches
    assert kinds[-2:] == ["VerdictGiven", "UnitFinished"]
    slept: list[float] = []
    handled: list[Event] = []
    play(iter(steps), handled.append, speed=4.0, sleep=slept.append)
    assert len(handled) == len(steps)
    assert sum(slept) == pytest.approx(sum(pause for pause, _ in steps) / 4.0)
    state = LiveState(1)
    for event in handled:
        state.apply(event)
    unit = state.units[record["id"]]
    texts = [turn.text for turn in unit.speakers["debater_a"].turns]
    assert texts == [m["text"] for m in record["messages"] if m["role"] == "debater_a"]
    assert unit.status == "done" and len(unit.verdicts) == 2


def test_watch_follows_a_run_that_is_still_being_written(tmp_path: Path) -> None:
    source, _ = run_record(tmp_path)
    lines = (source / "transcripts.jsonl").read_text().splitlines(keepends=True)
    live = tmp_path / "live"
    live.mkdir()
    (live / "spec.yaml").write_text((source / "spec.yaml").read_text())
    (live / "transcripts.jsonl").write_text(lines[0] + lines[1][:40])  # a torn second line
    watcher = subprocess.Popen(
        [DEBATE, "watch", str(live), "--plain", "--speed", "0", "--idle-timeout", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        first = watcher.stdout.readline()
        assert first.startswith("[unit 1] start debate/truthfulqa-0/orig")
        with (live / "transcripts.jsonl").open("a") as handle:
            handle.write(lines[1][40:])
            handle.writelines(lines[2:])
        time.sleep(0.05)
        (live / "summary.json").write_text("{}")
        rest, errors = watcher.communicate(timeout=120)
    finally:
        watcher.kill()
    assert watcher.returncode == 0, errors
    starts = [line for line in (first + rest).splitlines() if " start " in line]
    assert [line.split()[3] for line in starts] == [json.loads(line)["id"] + ":" for line in lines]


def test_follow_stops_after_the_idle_timeout(tmp_path: Path) -> None:
    run_dir = tmp_path / "idle"
    run_dir.mkdir()
    (run_dir / "spec.yaml").write_text("protocol: debate\n")
    ticks = iter(range(0, 1000, 5))
    items = list(
        watch_records(
            run_dir, idle_timeout=30, poll=0, sleep=lambda _s: None, clock=lambda: next(ticks)
        )
    )
    assert items == []


# ----- a real terminal -------------------------------------------------------------------


class Tmux:
    """A private tmux server with one fixed-size window running a command."""

    def __init__(self, tmp_path: Path, command: list[str], width: int = 160, height: int = 50):
        if shutil.which("tmux") is None:
            pytest.skip("tmux is not installed (apt-get install -y tmux)")
        self.socket = f"debate-live-{os.getpid()}-{time.monotonic_ns()}"
        shell = " ".join(_quote(part) for part in command)
        env = "env -u COLUMNS -u LINES -u NO_COLOR"
        self.tmux(
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            str(width),
            "-y",
            str(height),
            f"cd {_quote(str(tmp_path))} && {env} {shell}; sleep 600",
        )

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "main")

    def wait_for(self, text: str, deadline: float = 120.0) -> str:
        end = time.monotonic() + deadline
        while True:
            screen = self.screen()
            if text in screen or time.monotonic() > end:
                return screen
            time.sleep(0.2)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[list[Tmux]]:
    made: list[Tmux] = []
    yield made
    for tmux in made:
        tmux.close()


def focused_record(screen: str, records: list[dict[str, object]]) -> dict[str, object]:
    found = re.search(r"· unit \d+ (\S+) · round (\d+)/(\d+)", screen)
    assert found, screen
    return next(r for r in records if r["id"] == found.group(1))


def assert_debate_frame(screen: str, records: list[dict[str, object]]) -> None:
    record = focused_record(screen, records)
    messages = record["messages"]
    assert isinstance(messages, list)
    for role, name in (("debater_a", "Debater A"), ("debater_b", "Debater B")):
        assert name in screen
        last = [m["text"] for m in messages if m["role"] == role][-1]
        assert " ".join(last.split())[:30] in screen, (last, screen)
    assert re.search(r"round 3/3", screen)
    bars = BAR.findall(screen)
    assert {label for label, _, _ in bars} == {"A", "B"}, screen
    for _, cells, probability in bars:
        assert cells.count("█") == round(float(probability) * 30)
    assert "✓ correct" in screen


def test_live_run_in_a_terminal_shows_debaters_rounds_and_judge_bars(
    tmp_path: Path, terminal: list[Tmux]
) -> None:
    out = tmp_path / "run"
    debate = str(Path(sys.executable).with_name("debate").absolute())
    command = [debate, "run", "debate", "--model", "scripted", "--limit", "2", "--live"]
    terminal.append(Tmux(tmp_path, [*command, "--out", str(out)]))
    screen = terminal[0].wait_for("run directory:")
    assert "run directory:" in screen, screen
    records = [json.loads(line) for line in (out / "transcripts.jsonl").read_text().splitlines()]
    assert_debate_frame(screen, records)
    assert "debate-lab · live" in screen and "in flight 0 · done 4/4" in screen
    assert "judge accuracy" in screen  # the summary table printed under the last frame


def test_watch_in_a_terminal_replays_with_the_same_layout(
    tmp_path: Path, terminal: list[Tmux]
) -> None:
    out, _ = run_record(tmp_path)
    debate = str(Path(sys.executable).with_name("debate").absolute())
    terminal.append(
        Tmux(tmp_path, [debate, "watch", str(out), "--unit", "truthfulqa-1/orig", "--speed", "20"])
    )
    screen = terminal[0].wait_for("judge accuracy")
    assert "judge accuracy" in screen, screen
    records = [json.loads(line) for line in (out / "transcripts.jsonl").read_text().splitlines()]
    assert_debate_frame(screen, records)
    assert "debate-lab · replay ×20" in screen and "debate/truthfulqa-1/orig" in screen


def test_engine_quote_checks_reach_the_frame_and_the_plain_lines() -> None:
    import asyncio

    from debate.core.engine import Engine, ModelBindings, plan_units
    from debate.core.loading import load_protocol
    from debate.core.scenarios import Scenario
    from debate.models.base import ChatMessage, GenerateConfig

    def responder(messages: list[ChatMessage], config: GenerateConfig) -> str:
        if config.choices or "Answer" in messages[-1].content:
            return "Answer: A"
        return "See <quote>invented in Kyoto</quote> not <quote>made on the moon</quote>."

    story = "Historians say the cookie was invented in Kyoto and sold in California."
    scenario = Scenario(
        id="q", question="Where?", answers=["Kyoto", "Moon"], correct_index=0, story=story
    )
    bundle = load_protocol("debate")
    plans = plan_units(bundle, [scenario], swap=False)
    events: list[Event] = []
    plain = io.StringIO()
    plain_view = PlainView(Console(file=plain), total=1)
    bindings = ModelBindings({}, default="scripted", options={"responder": responder})
    engine = Engine(bundle, bindings, subscribers=[events.append, plain_view.handle])
    asyncio.run(engine.run(plans))
    state = LiveState(1, linger=60.0)
    for event in events:
        state.apply(event)
    text = frame_text(state, width=200)
    assert "“invented in Kyoto”✓" in text and "“made on the moon”✗" in text
    assert "[quotes: 1 verified, 1 unverified]" in plain.getvalue()
    assert "verdict: A 1.00 / B 0.00 (correct: A)" in plain.getvalue()
    assert "judge right" in text


@pytest.mark.parametrize("size", [(100, 24), (160, 50), (80, 30)])
def test_frame_fits_the_terminal_with_many_units_and_long_turns(size: tuple[int, int]) -> None:
    width, height = size
    state = LiveState(40)
    long_text = " ".join(f"word{n}" for n in range(400))
    for number in range(40):
        unit = f"debate/q{number}/orig"
        state.apply(started(unit, rounds=3))
        for role in ("debater_a", "debater_b"):
            state.apply(TurnStarted(unit, 1, role, role.title(), "speech"))
            state.apply(TurnFinished(unit, 1, role, role.title(), "speech", long_text, (), 400))
            state.apply(TurnStarted(unit, 2, role, role.title(), "speech"))
            state.apply(TextDelta(unit, role, "latest words"))
    lines = frame_text(state, width=width, height=height).rstrip("\n").splitlines()
    assert len(lines) <= height
    text = "\n".join(lines)
    assert "latest words" in text  # the newest text is the part kept
    assert "word0 " not in text
    assert "more not shown" in text and "in flight 40" in text
