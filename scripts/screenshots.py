"""Take the README's screenshots of the human-judge page and the viewer in headless Chromium.

    .venv/bin/python scripts/screenshots.py [--out docs/img]

It runs the debate protocol on the bundled NYU stories with scripted debaters that quote
the story (one exact quote and one altered quote per speech, so both markings show),
twice: once judged by the scripted model, once by a person through the human-judge page,
where this script picks answers by clicking, as a person would. Then it opens both runs
side by side in the viewer. Needs chromium and chromium-driver (Debian) and selenium.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from debate.core.engine import Engine, ModelBindings, plan_units
from debate.core.loading import load_protocol
from debate.core.scenarios import load_scenarios
from debate.core.store import RunStore
from debate.models.base import ChatMessage, GenerateConfig
from debate.models.human import HumanModel
from debate.view.data import feature_annotators
from debate.view.server import Viewer, start


def quoting_debater(messages: list[ChatMessage], config: GenerateConfig) -> str:
    if config.choices:
        return "Answer: A"
    system = messages[0].content
    story = re.search(r"<story>\s*(.*?)\s*</story>", system, re.S)
    defended = re.search(r'You defend answer ([A-Z]): "([^"]*)"', system)
    text = " ".join((story.group(1) if story else "").split())
    sentences = [
        s for s in re.split(r"(?<=[.!?])\s+", text) if 50 < len(s) < 140 and not set(s) & set('"[]')
    ]
    turn = sum(1 for m in messages if m.role == "assistant")
    side = 0 if defended and defended.group(1) == "A" else 1
    exact = sentences[(turn * 11 + side * 5) % len(sentences)] if sentences else "the text"
    altered = exact.split(" ")
    altered.insert(len(altered) // 2, "never")
    label, answer = defended.groups() if defended else ("A", "my answer")
    return (
        f'The story is clear: <quote>{exact}</quote> That supports answer {label}, "{answer}". '
        f"My opponent's reading needs <quote>{' '.join(altered)}</quote>, and the story says "
        "nothing of the kind."
    )


def run_debates(out: Path, judge: str, loop: asyncio.AbstractEventLoop) -> Any:
    bundle = load_protocol("debate")
    scenarios = load_scenarios("nyu-sample", limit=3)
    bindings = ModelBindings(
        {"judge": judge},
        default="scripted",
        options={"responder": quoting_debater},
        backend_options={"human": {"port": 0, "journal_dir": str(out), "seed": 1}},
    )
    engine = Engine(bundle, bindings, store=RunStore(out))

    async def go() -> HumanModel | None:
        roles = engine.bind_roles()
        model = roles["judge"].model
        task = asyncio.ensure_future(engine.run(plan_units(bundle, scenarios, swap=True)))
        engine_task[0] = task
        return model if isinstance(model, HumanModel) else None

    engine_task: list[Any] = [None]
    human = asyncio.run_coroutine_threadsafe(go(), loop).result(60)
    if human is not None:
        asyncio.run_coroutine_threadsafe(human.start(), loop).result(60)
    return human, engine_task, engine, bindings


def finish(
    engine_task: list[Any], engine: Engine, bindings: ModelBindings, out: Path, loop: Any
) -> None:
    async def wait() -> None:
        await engine_task[0]
        await bindings.aclose()

    asyncio.run_coroutine_threadsafe(wait(), loop).result(300)
    assert engine.store is not None
    engine.store.close()
    from debate.analysis.report import summarize, write_summary

    write_summary(out, summarize(engine.records, engine.failures, protocol="debate"))


def browser() -> Any:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1200,1380",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    work = Path(tempfile.mkdtemp(prefix="debate-shots-"))
    model_run, human_run = work / "judge-scripted", work / "judge-human-ana"
    _, task, engine, bindings = run_debates(model_run, "scripted", loop)
    finish(task, engine, bindings, model_run, loop)
    human, task, engine, bindings = run_debates(human_run, "human/ana", loop)
    driver = browser()
    try:
        driver.get(human.url)
        wait = WebDriverWait(driver, 60)
        shown = ""
        for number in range(6):
            wait.until(
                lambda d, last=shown: (
                    d.find_element(By.ID, "request").is_displayed()
                    and d.execute_script("return document.body.dataset.request || ''")
                    not in ("", last)
                )
            )
            shown = driver.execute_script("return document.body.dataset.request")
            driver.find_element(By.ID, "choice-" + "AB"[number % 2]).click()
            if number == 0:
                driver.find_element(By.ID, "reason").send_keys(
                    "Both quote the story; A's quotes bear on how the city sank."
                )
                driver.execute_script("window.scrollTo(0, 0)")
                driver.save_screenshot(str(args.out / "human-judge.png"))
            driver.find_element(By.ID, "submit-verdict").click()
            time.sleep(0.5)
        finish(task, engine, bindings, human_run, loop)
        viewer = Viewer(
            [model_run, human_run], token=None, loopback=True, annotators=feature_annotators()
        )
        runner, url = asyncio.run_coroutine_threadsafe(start(viewer, "127.0.0.1", 0), loop).result(
            30
        )
        driver.set_window_size(1200, 560)
        driver.get(url)
        wait.until(
            expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "tr.unit-row"))
        )
        driver.save_screenshot(str(args.out / "viewer-units.png"))
        driver.set_window_size(1200, 1380)
        driver.find_element(By.CSS_SELECTOR, "tr.unit-row a").click()
        wait.until(
            expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, ".side-by-side"))
        )
        driver.save_screenshot(str(args.out / "viewer-unit.png"))
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    finally:
        driver.quit()
    print(f"wrote {args.out}/human-judge.png, viewer-units.png, viewer-unit.png (runs in {work})")


if __name__ == "__main__":
    main()
