"""`debate view`: the payload, the server's guards, the export, and the page in Chromium."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from browser import browser_fixture, read_url, start_cli, wait_for  # noqa: F401
from test_pbt import capital, run_protocol, tree_script

from debate.analysis.report import summarize, write_summary
from debate.core.engine import Engine, ModelBindings, plan_units
from debate.core.loading import load_protocol
from debate.core.scenarios import Scenario
from debate.core.store import RunStore
from debate.models.base import ChatMessage, GenerateConfig
from debate.view.data import check_run_dirs, feature_annotators, load_runs, run_names
from debate.view.export import embedded_json, export_html

STORY = "Historians say the cookie was invented in Kyoto and sold in California."
FORGED = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def quoting(messages: list[ChatMessage], config: GenerateConfig) -> str:
    if config.choices or "Answer" in messages[-1].content:
        return "Answer: A"
    return f"See <quote>invented in Kyoto</quote>, not <quote>made on the moon</quote>. {FORGED}"


def make_run(out: Path, judge_answer: str = "Answer: A") -> Path:
    """A finished debate run whose speeches quote the story (one verified, one not)."""

    def responder(messages: list[ChatMessage], config: GenerateConfig) -> str:
        return judge_answer if config.choices else quoting(messages, config)

    scenarios = [
        Scenario(id=f"q{i}", question=f"Where was cookie {i} invented?", answers=["Kyoto", "Moon"],
                 correct_index=0, story=STORY)
        for i in range(2)
    ]  # fmt: skip
    bundle = load_protocol("debate")
    bindings = ModelBindings({}, default="scripted", options={"responder": responder})
    store = RunStore(out)
    store.write_spec({"protocol": "debate", "seed": 0, "models": {"judge": "scripted"}})
    engine = Engine(bundle, bindings, store=store)
    asyncio.run(engine.run(plan_units(bundle, scenarios, swap=True)))
    store.append_failure({"id": "debate/q9/orig", "scenario_id": "q9", "error": "server down"})
    store.close()
    write_summary(out, summarize(engine.records, [], protocol="debate"))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(2, 2))
    plt.bar(["A", "B"], [0.5, 0.5])
    figure.savefig(out / "accuracy.png")
    plt.close(figure)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    base = tmp_path_factory.mktemp("runs")
    first = make_run(base / "judge-a")
    second = make_run(base / "judge-b", judge_answer="Answer: B")
    return [first, second]


# ----- without a browser -------------------------------------------------------------------


def test_payload_holds_records_failures_summary_and_plots(runs: list[Path]) -> None:
    payload = load_runs(runs, plot_src=lambda i, rel: f"plot:{i}:{rel}")
    first = payload["runs"][0]
    assert [run["name"] for run in payload["runs"]] == ["judge-a", "judge-b"]
    assert len(first["records"]) == 4 and first["failures"][0]["error"] == "server down"
    assert first["summary"]["n_units"] == 4 and not first["running"]
    assert first["plots"] == [{"name": "accuracy.png", "src": "plot:0:accuracy.png"}]
    quotes = first["records"][0]["messages"][0]["quotes"]
    assert [(q["text"], q["verified"]) for q in quotes] == [
        ("invented in Kyoto", True),
        ("made on the moon", False),
    ]


def test_a_run_being_written_reads_up_to_its_last_whole_line(
    runs: list[Path], tmp_path: Path
) -> None:
    lines = (runs[0] / "transcripts.jsonl").read_text().splitlines(keepends=True)
    live = tmp_path / "live-run"
    live.mkdir()
    (live / "transcripts.jsonl").write_text("".join(lines[:2]) + lines[2][:40])
    (live / "live.jsonl").write_text("")
    (first,) = load_runs([live], plot_src=str)["runs"]
    assert first["running"] and len(first["records"]) == 2 and first["summary"] is None


def test_pbt_records_carry_their_preference_pairs(tmp_path: Path) -> None:
    run_protocol("pbt-tree", tree_script, [capital("q1")], tmp_path / "pbt")
    payload = load_runs([tmp_path / "pbt"], plot_src=str, annotators=feature_annotators())
    pairs = payload["runs"][0]["records"][0]["view_extras"]["pbt_pairs"]
    assert pairs and {p["code"] for p in pairs} <= {"resist", "accept"}
    assert all(p["chosen_score"] > p["rejected_score"] for p in pairs)


def test_names_and_bad_directories(tmp_path: Path) -> None:
    assert run_names([Path("a/run"), Path("b/run")]) == ["a/run", "b/run"]
    (tmp_path / "empty").mkdir()
    from debate.errors import DebateInputError

    with pytest.raises(DebateInputError, match="not a run directory"):
        check_run_dirs([tmp_path / "empty"])
    process = start_cli("view", str(tmp_path / "empty"))
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2 and err.strip().endswith("(not a run directory?)")
    assert "Traceback" not in err


def test_off_loopback_needs_a_token(runs: list[Path]) -> None:
    process = start_cli("view", str(runs[0]), "--host", "0.0.0.0")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert err.strip() == (
        "--host 0.0.0.0: listening beyond this machine needs --token (the page asks for it)"
    )


def test_embedded_json_cannot_close_its_script_block() -> None:
    text = embedded_json({"x": "</script><!-- & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"x": "</script><!-- & \u2028"}


def test_export_is_self_contained(runs: list[Path]) -> None:
    page = export_html(runs)
    assert "<script src" not in page and "<link" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "default-src 'none'" in page and "img-src data:" in page
    assert "data:image/png;base64," in page
    assert FORGED not in page  # the transcript's markup is escaped inside the JSON block


def test_token_guards_the_data(runs: list[Path]) -> None:
    process = start_cli("view", str(runs[0]), "--port", "0", "--token", "s3cret")
    try:
        url = read_url(process, "debate viewer:")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + "api/data")
        assert refused.value.code == 401
        request = urllib.request.Request(url + "api/data", headers={"X-Debate-Token": "s3cret"})
        assert len(json.loads(urllib.request.urlopen(request).read())["runs"][0]["records"]) == 4
        page = urllib.request.urlopen(url).read().decode()
        assert 'content="token"' in page
    finally:
        process.kill()


# ----- in a real browser ----------------------------------------------------------------------


def _rows(driver: Any) -> list[str]:
    return [
        row.get_attribute("data-unit")
        for row in driver.find_elements("css selector", "tr.unit-row")
    ]


def _check_list_and_unit(driver: Any) -> None:
    wait_for(driver, "tr.unit-row")
    assert _rows(driver) == [
        "debate/q0/orig", "debate/q0/swap", "debate/q1/orig", "debate/q1/swap", "debate/q9/orig",
    ]  # fmt: skip
    from selenium.webdriver.support.ui import Select

    cells = driver.find_elements("css selector", "tr.unit-row td:nth-child(4)")
    assert [c.text.split()[0] for c in cells[:4]] == ["✓", "✗", "✓", "✗"]  # judge-a: always A
    assert cells[4].text == "failed"
    outcome = Select(driver.find_element("id", "filter-outcome"))
    outcome.select_by_value("failed")
    assert _rows(driver) == ["debate/q9/orig"]
    outcome.select_by_value("")
    driver.find_element("id", "filter-text").send_keys("cookie 1")
    assert _rows(driver) == ["debate/q1/orig", "debate/q1/swap"]
    driver.find_element("css selector", 'tr[data-unit="debate/q1/orig"] a').click()
    wait_for(driver, ".side-by-side")
    verified = [e.text for e in driver.find_elements("css selector", ".turns .q-v")]
    unverified = [e.text for e in driver.find_elements("css selector", ".turns .q-u")]
    assert verified and set(verified) == {"invented in Kyoto"}
    assert unverified and set(unverified) == {"made on the moon"}
    turns = driver.find_element("css selector", ".turns").text
    assert FORGED in turns  # shown as text
    assert not driver.find_elements("css selector", ".turns script, .turns img")
    assert driver.find_elements("css selector", ".verdict .bar-fill")
    prompt = driver.find_element("css selector", ".verdict details.prompt")
    marked = prompt.find_elements("css selector", ".q-v")  # the judge saw the markers
    assert [m.get_attribute("textContent") for m in marked[-1:]] == ["invented in Kyoto"]
    assert "<v_quote>" not in prompt.get_attribute("textContent")
    assert "The same unit in each run" in driver.page_source
    assert {e.text for e in driver.find_elements("css selector", ".compare td:nth-child(5)")} == {
        "correct",
        "wrong",
    }


def test_viewer_lists_units_and_opens_one_with_quotes_marked(
    runs: list[Path], browser: Any
) -> None:
    process = start_cli("view", *map(str, runs), "--port", "0")
    try:
        browser.get(read_url(process, "debate viewer:"))
        _check_list_and_unit(browser)
        browser.get(browser.current_url.split("#")[0] + "#/run/0")
        image = wait_for(browser, ".plots img")
        assert browser.execute_script("return arguments[0].naturalWidth", image) > 0
    finally:
        process.kill()


def test_exported_file_renders_offline_with_the_same_content(
    runs: list[Path], tmp_path: Path, browser: Any
) -> None:
    target = tmp_path / "report.html"
    process = start_cli("view", *map(str, runs), "--export", str(target))
    assert process.wait(timeout=120) == 0
    browser.get(target.as_uri())
    _check_list_and_unit(browser)
    browser.get(target.as_uri() + "#/run/0")
    image = wait_for(browser, ".plots img")
    assert browser.execute_script("return arguments[0].naturalWidth", image) > 0
    assert urllib.parse.urlparse(image.get_attribute("src")).scheme == "data"


def test_reloading_the_page_follows_a_run_being_written(
    runs: list[Path], tmp_path: Path, browser: Any
) -> None:
    lines = (runs[0] / "transcripts.jsonl").read_text().splitlines(keepends=True)
    live = tmp_path / "live-run"
    live.mkdir()
    (live / "spec.yaml").write_text((runs[0] / "spec.yaml").read_text())
    (live / "transcripts.jsonl").write_text("".join(lines[:1]) + lines[1][:30])  # mid-write
    (live / "live.jsonl").write_text("")
    process = start_cli("view", str(live), "--port", "0")
    try:
        browser.get(read_url(process, "debate viewer:"))
        wait_for(browser, "tr.unit-row")
        assert _rows(browser) == ["debate/q0/orig"]
        assert "run in progress" in browser.find_element("id", "live").text
        with (live / "transcripts.jsonl").open("w") as handle:
            handle.write("".join(lines))  # the run went on
        browser.refresh()
        wait_for(browser, "tr.unit-row")
        assert len(_rows(browser)) == 4
    finally:
        process.kill()


def test_a_panel_verdict_shows_its_members(tmp_path: Path, browser: Any) -> None:
    source, judged = tmp_path / "source", tmp_path / "judged"
    made = start_cli("run", "debate", "--model", "scripted", "--limit", "1", "--out", str(source))
    assert made.wait(timeout=120) == 0
    panel = start_cli(
        "judge", str(source), "--judge", "duo=scripted,scripted/other", "--out", str(judged)
    )
    assert panel.wait(timeout=120) == 0
    target = tmp_path / "panel.html"
    assert start_cli("view", str(judged / "duo"), "--export", str(target)).wait(timeout=120) == 0
    unit = "debate/truthfulqa-0/orig"
    browser.get(target.as_uri() + "#/unit/" + urllib.parse.quote(unit, safe=""))
    members = wait_for(browser, ".verdict .panel table")
    rows = members.find_elements("css selector", "tbody tr")
    assert [row.find_elements("css selector", "td")[1].text for row in rows] == [
        "scripted",
        "scripted/other",
    ]
    assert "judged from" in browser.find_element("css selector", ".entry").text


def test_a_long_list_draws_a_page_of_rows_then_all(
    runs: list[Path], tmp_path: Path, browser: Any
) -> None:
    record = json.loads((runs[0] / "transcripts.jsonl").read_text().splitlines()[0])
    big = tmp_path / "big"
    big.mkdir()
    with (big / "transcripts.jsonl").open("w") as handle:
        for number in range(620):
            handle.write(json.dumps({**record, "id": f"debate/q{number}/orig"}) + "\n")
    target = tmp_path / "big.html"
    assert start_cli("view", str(big), "--export", str(target)).wait(timeout=120) == 0
    browser.get(target.as_uri())
    wait_for(browser, "tr.unit-row")
    assert len(_rows(browser)) == 500
    wait_for(browser, "#more").click()
    assert len(_rows(browser)) == 620


def test_a_broken_line_is_named_on_the_page_and_by_export(
    runs: list[Path], tmp_path: Path, browser: Any
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    lines = (runs[0] / "transcripts.jsonl").read_text().splitlines(keepends=True)
    (broken / "transcripts.jsonl").write_text(lines[0] + "{not json\n" + lines[1])
    export = start_cli("view", str(broken), "--export", str(tmp_path / "x.html"))
    _, err = export.communicate(timeout=120)
    assert export.returncode == 2 and "transcripts.jsonl: line 2: not valid JSON" in err
    process = start_cli("view", str(broken), "--port", "0")
    try:
        browser.get(read_url(process, "debate viewer:"))
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        named = expected_conditions.text_to_be_present_in_element(
            ("css selector", "p.note"), "line 2: not valid JSON"
        )
        assert WebDriverWait(browser, 30).until(named)
    finally:
        process.kill()


def test_a_corrected_verdict_shows_what_was_read(
    runs: list[Path], tmp_path: Path, browser: Any
) -> None:
    record = json.loads((runs[0] / "transcripts.jsonl").read_text().splitlines()[0])
    final = record["final_verdict"]
    final["raw_probs"], final["probs"] = [0.7, 0.3], [0.55, 0.45]
    final["calibration"] = {"method": "both-orders", "reversed_probs": [0.4, 0.6]}
    record["verdicts"] = [final]
    corrected = tmp_path / "corrected"
    corrected.mkdir()
    (corrected / "transcripts.jsonl").write_text(json.dumps(record) + "\n")
    target = tmp_path / "corrected.html"
    assert start_cli("view", str(corrected), "--export", str(target)).wait(timeout=120) == 0
    browser.get(target.as_uri() + "#/unit/" + urllib.parse.quote(record["id"], safe=""))
    line = wait_for(browser, ".verdict .calibration").text
    assert line == (
        "corrected (both-orders): as read A 0.70 / B 0.30; "
        "read with the answers reversed A 0.40 / B 0.60"
    )
