"""What llama-cpp-python's server replies when the judge's reply gives no label.

A reply that never writes `Answer:` has no label position, and one whose `Answer:` is
followed by a word has little label mass there: neither is read as label
probabilities, and the verdict says why it was parsed instead. Uses the server fixture
and helpers of `test_llamacpp_verdicts.py`; slow, and skipped without `llama_cpp`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from conftest import run_cli
from llamacpp import SERVED_NAME, LlamaCppServer, llamacpp_fixture  # noqa: F401
from test_llamacpp_verdicts import JUDGE, LABELS, QUESTIONS, complete_all, served

from debate.core.declarations import JudgeSpec
from debate.core.judges import read_reply
from debate.models import ChatMessage

pytestmark = pytest.mark.slow


def start_with_answer_chat(question: str, answers: Sequence[str]) -> list[ChatMessage]:
    """A judge chat the 135M model often answers with no label after "Answer:", or with
    no "Answer:" at all ("The answer to the question ...")."""
    return [
        ChatMessage(
            "system",
            "You are a careful judge answering a multiple-choice question.\n"
            f"Question: {question}\nA: {answers[0]}\nB: {answers[1]}",
        ),
        ChatMessage(
            "user", 'Which answer is correct? Start your reply with "Answer:" and then the letter.'
        ),
    ]


def test_a_reply_that_gives_no_label_never_gives_a_label_probability(
    llamacpp: LlamaCppServer,
) -> None:
    chats = [start_with_answer_chat(q, answers) for q, answers in QUESTIONS]
    replies = complete_all(served(llamacpp), chats, JUDGE)
    spec = JudgeSpec(name="j", system="s", instruction="i")
    # measured: two replies start "The answer to the question ...", two "Answer: You ..."
    first_words = [(r.text.split() or [""])[0].strip("*:.,") for r in replies]
    assert any(word not in LABELS and word != "Answer" for word in first_words), first_words
    assert any(r.text.startswith("Answer:") for r in replies), [r.text for r in replies]
    for reply in replies:
        verdict = read_reply(reply, list(LABELS), spec, asked_logprobs=True)
        if "Answer:" not in reply.text:
            # no label position: no label probabilities at all, whatever the first
            # token's alternatives held; the judge parses the text and says why
            assert reply.choice_logprobs is None and reply.label_position is None
            assert verdict.method != "logprobs" and "Answer:" in (verdict.fallback or "")
        else:
            # read after "Answer:", where the model wrote a word, not a label: the labels'
            # mass there is small and the renormalised numbers are not used
            assert reply.label_position is not None and reply.label_position >= 2
            if not any(reply.text.startswith(f"Answer: {label}") for label in LABELS):
                assert reply.label_mass is not None and reply.label_mass < 0.5
                assert verdict.method != "logprobs"
                assert "label mass" in (verdict.fallback or "")


JUDGE_YAML = {
    "name": "one-line-judge",
    "description": "A judge prompted the way the 135M model answers in the form Answer: X.",
    "system": "You are a judge. You reply with one line, for example:\nAnswer: B\n\n"
    "Question: {{ question }}\n{{ answer_list }}",
    "instruction": 'Which answer is correct? Reply with one line: "Answer: A" or "Answer: B".',
    "method": "logprobs",
    "max_tokens": 8,
}


def test_a_run_with_a_llamacpp_judge_records_where_and_how_it_read_each_verdict(
    llamacpp: LlamaCppServer, tmp_path: Path
) -> None:
    judge = tmp_path / "one-line-judge.yaml"
    judge.write_text(yaml.safe_dump(JUDGE_YAML))
    protocol = tmp_path / "judge-alone.yaml"
    protocol.write_text(
        yaml.safe_dump(
            {
                "name": "judge-alone",
                "roles": {"judge": {"judge": str(judge)}},
                "rounds": [],
                "verdict": "judge",
                "swap": True,
            }
        )
    )
    out = tmp_path / "run"
    done = run_cli(
        "run", str(protocol), "--scenarios", "truthfulqa-sample", "--limit", "3",
        "--model", f"judge=openai/{SERVED_NAME}", "--model-base-url", f"judge={llamacpp.base_url}",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (out / "transcripts.jsonl").read_text().splitlines()]
    verdicts = [r["final_verdict"] for r in records]
    assert len(verdicts) == 6
    read = [v for v in verdicts if v["method"] == "logprobs"]
    assert read, [v["raw"] for v in verdicts]
    for verdict in read:
        assert verdict["label_mass"] >= 0.5 and verdict["label_position"] >= 2
        assert verdict["raw"].startswith("Answer:") and verdict["fallback"] is None
    for verdict in verdicts:
        if verdict["method"] != "logprobs":
            assert verdict["fallback"]  # why the labels were not read, stated
    summary = json.loads((out / "summary.json").read_text())
    assert summary["judge_label_mass"]["n"] == sum(v["label_mass"] is not None for v in verdicts)
    assert summary["n_parse_fallback"] == sum(
        1 for v in verdicts if v["fallback"] and v["method"] == "parse"
    )
