"""The `human` backend: a person answers through a local page; answers are journaled.

Browser tests drive the real page in headless Chromium (skipped when it is absent);
the resume test talks to the page's API as the page's script does.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import browser_fixture, read_url, start_cli, wait_for  # noqa: F401

from debate.errors import DebateInputError
from debate.models import ChatMessage, GenerateConfig, create_model, request_tag
from debate.models.human import HumanModel, Journal, read_probabilities, unit_order

# ----- without a browser -------------------------------------------------------------------


def test_probabilities_are_checked_and_normalised() -> None:
    assert read_probabilities([30, 70], ["A", "B"]) == [0.3, 0.7]
    assert read_probabilities([1, 1, 2], ["A", "B", "C"]) == [0.25, 0.25, 0.5]
    for bad in ([1], [-1, 2], [0, 0], ["1", 2], [float("nan"), 1], [True, 1], "0.5"):
        with pytest.raises(ValueError):
            read_probabilities(bad, ["A", "B"])


def test_units_come_in_a_seeded_order_that_depends_on_the_seed() -> None:
    units = [f"debate/q{i}/orig" for i in range(20)]
    first = sorted(units, key=lambda u: unit_order(1, u))
    assert first == sorted(units, key=lambda u: unit_order(1, u))
    assert first != sorted(units, key=lambda u: unit_order(2, u))
    assert first != units


def test_a_journal_with_answers_needs_resume(tmp_path: Path) -> None:
    path = tmp_path / "human-ana.jsonl"
    journal = Journal.open(path, resume=False)
    journal.append({"key": "k1", "unit": "u", "annotator": "ana", "seconds": 1.0, "text": "hi"})
    with path.open("a") as handle:
        handle.write('{"key": "torn')  # a kill in the middle of a line
    with pytest.raises(DebateInputError, match="--resume"):
        Journal.open(path, resume=False)
    again = Journal.open(path, resume=True)
    assert list(again.answers) == ["k1"]
    assert path.read_text().endswith("}\n")


def test_bad_annotator_name_is_one_line_error() -> None:
    with pytest.raises(DebateInputError, match="--annotator"):
        create_model("human/../etc")


class PageThread:
    """A HumanModel whose event loop runs on a thread, so a test can drive its page."""

    def __init__(self, tmp_path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.model: HumanModel = self.call(self._make(tmp_path))

    async def _make(self, tmp_path: Path) -> HumanModel:
        model = HumanModel("ana", port=0, journal=tmp_path / "human-ana.jsonl", announce=False)
        await model.start()
        return model

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def ask(self, tag: str, messages: list[ChatMessage], choices: tuple[str, ...] | None) -> Any:
        async def go() -> Any:
            request_tag.set(tag)
            return await self.model.generate(messages, GenerateConfig(choices=choices))

        return asyncio.run_coroutine_threadsafe(go(), self.loop)

    def close(self) -> None:
        self.call(self.model.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def page(tmp_path: Path) -> Iterator[PageThread]:
    running = PageThread(tmp_path)
    try:
        yield running
    finally:
        running.close()


def test_page_refuses_other_hosts_and_calls_without_its_key(page: PageThread) -> None:
    url = page.model.url
    assert url is not None
    html = urllib.request.urlopen(url).read().decode()
    key = re.search(r'name="debate-key" content="([^"]+)"', html)
    assert key
    for headers in ({}, {"X-Debate-Key": "wrong"}, {"X-Debate-Key": key.group(1), "Host": "evil"}):
        request = urllib.request.Request(url + "api/next", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request)
        assert refused.value.code == 403


# ----- in a real browser ----------------------------------------------------------------------


def _judge_view(story_quote: str) -> list[ChatMessage]:
    return [
        ChatMessage(
            "system",
            "You are a careful judge.\nQuestion: Who wrote it?\nA: Ann <b>bold</b>\nB: Bob",
        ),
        ChatMessage(
            "user",
            f"Debater A: As written, <v_quote>{story_quote}</v_quote> and "
            "<u_quote>made up</u_quote>. <img src=x onerror=alert(1)>\n\nWhich answer?",
        ),
    ]


def test_page_marks_quotes_and_shows_markup_as_text(page: PageThread, browser: Any) -> None:
    pending = page.ask("debate/q1/orig", _judge_view("Ann wrote it"), ("A", "B"))
    browser.get(page.model.url)
    wait_for(browser, "#choice-A")
    verified = browser.find_elements("css selector", ".msg .q-v")
    unverified = browser.find_elements("css selector", ".msg .q-u")
    assert [v.text for v in verified] == ["Ann wrote it"]
    assert [u.text for u in unverified] == ["made up"]
    assert verified[0].get_attribute("title") == "verified quote"
    body = browser.find_element("id", "messages").text
    assert "<img src=x onerror=alert(1)>" in body  # shown as text, not an element
    assert not browser.find_elements("css selector", "#messages img, #messages b")
    assert "Ann <b>bold</b>" in browser.find_element("id", "choice-A").text
    browser.find_element("id", "mode-probs").click()
    for label, value in (("A", "20"), ("B", "60")):
        field = browser.find_element("id", f"prob-{label}")
        field.clear()
        field.send_keys(value)
    browser.find_element("id", "reason").send_keys("B is <i>better</i>")
    browser.find_element("id", "submit-verdict").click()
    completion = pending.result(30)
    assert completion.choice_probs == {"A": 0.25, "B": 0.75}
    assert completion.text == "B is <i>better</i>"
    assert completion.meta["annotator"] == "ana" and completion.meta["seconds"] >= 0
    saved = json.loads((page.model.journal.path or Path()).read_text())
    assert saved["probs"] == [0.25, 0.75] and saved["unit"] == "debate/q1/orig"


def _records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "transcripts.jsonl").read_text().splitlines()]


def _new_request(browser: Any, after: str | None, timeout: float = 60) -> str:
    from selenium.webdriver.support.ui import WebDriverWait

    def shown(driver: Any) -> str | bool:
        if not driver.find_element("id", "request").is_displayed():
            return False
        number = driver.execute_script("return document.body.dataset.request || ''")
        return number if number and number != after else False

    return str(WebDriverWait(browser, timeout).until(shown))


def test_a_person_judges_two_debates_by_clicking(tmp_path: Path, browser: Any) -> None:
    run = tmp_path / "run"
    process = start_cli(
        "run", "debate", "--model", "scripted", "--model", "judge=human", "--annotator",
        "ana", "--human-port", "0", "--limit", "1", "--out", str(run), "--no-show",
    )  # fmt: skip
    try:
        browser.get(read_url(process, "human judge page:"))
        shown = None
        for label in ("A", "B"):
            shown = _new_request(browser, shown)
            assert "Question: Where did fortune cookies originate?" in browser.page_source
            browser.find_element("id", f"choice-{label}").click()
            browser.find_element("id", "submit-verdict").click()
            wait_for(browser, "#status")
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
    records = _records(run)
    assert len(records) == 2
    verdicts = [record["final_verdict"] for record in records]
    assert all(v["method"] == "human" and v["meta"]["annotator"] == "ana" for v in verdicts)
    assert sorted(v["chosen"] for v in verdicts) == [0, 1]
    assert all(abs(max(v["probs"]) - 0.75) < 1e-9 for v in verdicts)  # default confidence
    assert all(record["models"]["judge"] == "human/ana" for record in records)
    journal = (run / "human-ana.jsonl").read_text().splitlines()
    assert len(journal) == 2


def test_a_person_questions_a_consultant_live_then_decides(tmp_path: Path, browser: Any) -> None:
    run = tmp_path / "run"
    process = start_cli(
        "run", "consultancy", "--model", "scripted", "--model", "judge=human", "--human-port",
        "0", "--limit", "1", "--no-swap", "--out", str(run), "--no-show",
    )  # fmt: skip
    questions = ["Where exactly in Los Angeles?", "Who baked the first one?"]
    try:
        browser.get(read_url(process, "human judge page:"))
        shown = None
        for question in questions:
            shown = _new_request(browser, shown)
            box = wait_for(browser, "#text-answer")
            assert "Consultant:" in browser.find_element("id", "messages").text
            box.send_keys(question)
            browser.find_element("id", "submit-text").click()
        shown = _new_request(browser, shown)
        wait_for(browser, "#choice-B")
        transcript = browser.find_element("id", "messages").text
        assert questions[0] in transcript and questions[1] in transcript
        browser.find_element("id", "choice-B").click()
        browser.execute_script("document.getElementById('confidence').value = '90'")
        browser.find_element("id", "submit-verdict").click()
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
    (record,) = _records(run)
    asked = [m["text"] for m in record["messages"] if m["kind"] == "question"]
    assert asked == questions
    verdict = record["final_verdict"]
    assert verdict["method"] == "human" and verdict["probs"] == pytest.approx([0.1, 0.9])


# ----- kill and resume ----------------------------------------------------------------------------


class PageClient:
    def __init__(self, url: str) -> None:
        self.url = url
        html = urllib.request.urlopen(url).read().decode()
        found = re.search(r'name="debate-key" content="([^"]+)"', html)
        assert found
        self.key = found.group(1)

    def call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"X-Debate-Key": self.key, "Content-Type": "application/json"}
        request = urllib.request.Request(self.url + path, data=data, headers=headers)
        return json.loads(urllib.request.urlopen(request, timeout=60).read())

    def next_request(self) -> dict[str, Any]:
        for _ in range(10):
            state = self.call("api/next")
            if state["request"]:
                return dict(state["request"])
        raise AssertionError("no request came")


def test_a_killed_session_resumes_without_asking_again(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [
        "run", "consultancy", "--model", "scripted", "--model", "judge=human",
        "--human-port", "0", "--limit", "1", "--no-swap", "--out", str(run), "--no-show",
    ]  # fmt: skip
    first = start_cli(*args)
    try:
        page = PageClient(read_url(first, "human judge page:"))
        asked = page.next_request()
        assert asked["kind"] == "text"
        assert page.call("api/answer", {"id": asked["id"], "text": "First question?"})["saved"]
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        first.kill()
    assert "First question?" in (run / "human-annotator.jsonl").read_text()
    refused = start_cli(*args)
    refused.wait(timeout=60)
    assert refused.returncode == 2
    second = start_cli(*args, "--resume")
    try:
        page = PageClient(read_url(second, "human judge page:"))
        following = page.next_request()
        assert following["kind"] == "text"  # the second question, not the first again
        shown = "\n".join(m["content"] for m in following["messages"])
        assert "First question?" in shown
        page.call("api/answer", {"id": following["id"], "text": "Second question?"})
        verdict = page.next_request()
        assert verdict["kind"] == "verdict" and verdict["choices"] == ["A", "B"]
        page.call("api/answer", {"id": verdict["id"], "probs": [0.6, 0.4]})
        assert second.wait(timeout=60) == 0
    finally:
        second.kill()
    (record,) = _records(run)
    asked = [m["text"] for m in record["messages"] if m["kind"] == "question"]
    assert asked == ["First question?", "Second question?"]
    assert record["final_verdict"]["probs"] == [0.6, 0.4]


def test_an_open_consultancy_is_finished_before_the_next_one(tmp_path: Path) -> None:
    # the consultant answers after 300 ms, so the other unit's first question is waiting
    # already when this unit's next question comes
    process = start_cli(
        "run", "consultancy", "--model", "scripted/latency-300", "--model", "judge=human",
        "--human-port", "0", "--limit", "2", "--no-swap", "--out", str(tmp_path / "run"),
        "--no-show",
    )  # fmt: skip
    try:
        page = PageClient(read_url(process, "human judge page:"))
        questions = []
        for step in range(6):
            request = page.next_request()
            system = request["messages"][0]["content"]
            questions.append(re.search(r"Question: (.*)", system).group(1))  # type: ignore[union-attr]
            if request["kind"] == "text":
                page.call("api/answer", {"id": request["id"], "text": f"Question {step}?"})
            else:
                page.call("api/answer", {"id": request["id"], "probs": [1, 1]})
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
    assert questions[0] == questions[1] == questions[2] != questions[3]
    assert questions[3] == questions[4] == questions[5]


def test_a_person_judges_a_stored_run_again(tmp_path: Path) -> None:
    source, judges = tmp_path / "source", tmp_path / "judges"
    made = start_cli("run", "debate", "--model", "scripted", "--limit", "1", "--out", str(source))
    assert made.wait(timeout=120) == 0
    process = start_cli(
        "judge", str(source), "--judge", "human", "--judge", "scripted", "--annotator", "ana",
        "--human-port", "0", "--out", str(judges),
    )  # fmt: skip
    try:
        page = PageClient(read_url(process, "human judge page:"))
        for _ in range(2):
            request = page.next_request()
            assert request["kind"] == "verdict"
            assert "Debater A:" in request["messages"][-1]["content"]  # the stored debate
            page.call("api/answer", {"id": request["id"], "probs": [0.9, 0.1]})
        assert process.wait(timeout=120) == 0
    finally:
        process.kill()
    records = _records(judges / "human-ana")
    assert [r["final_verdict"]["method"] for r in records] == ["human", "human"]
    assert {r["source_unit"] for r in records} == {r["id"] for r in _records(source)}
    assert len((judges / "human-ana" / "human-ana.jsonl").read_text().splitlines()) == 2
    compared = start_cli("agreement", str(judges / "human-ana"), str(judges / "scripted"))
    assert compared.wait(timeout=120) == 0
