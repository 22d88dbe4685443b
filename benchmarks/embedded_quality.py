"""Quality of the embedded model's debates and verdicts (SmolLM2-135M on 2 CPU cores).

Two parts, one run. Repetition, echo and copying are measured on the model's own
words: a speech's declared `opening` (agent YAML) is left out of them.
- **Demo debate**: the `debate` protocol (3 rounds, both debaters and the judge on the
  model) on the first 4 bundled TruthfulQA questions in one answer order, as
  `scripts/demo` runs it. For every speech:
  - `repeated_sentence_rate`: a sentence of 4+ words occurs twice in the speech;
  - `echo_rate`: the speech repeats 5 consecutive words of its prompt's fixed wording
    (the agent's templates; not the question or the answers, which a speech may restate);
  - `copied_rate`: at least half of the speech's words lie in runs of 5+ words found in
    one earlier turn of the debate (`copied_rate_with_opening`: counting the opening,
    which restates the answer an earlier turn also holds);
  - `own_answer_rate`: the speech names the answer it defends (at least half of the
    words that set that answer apart from the other), as the judge reads it: with the
    agent's declared `opening`; `own_answer_generated_rate`: in the model's own words;
  - `over_limit_rate`: the stored speech has more words (split on any whitespace) than
    the word limit.
- **Direct QA**: the judge alone (`direct-qa`) on 20 bundled questions in both answer
  orders, so the correct answer is at A and at B equally often:
  - `judge_label_mass`: the mean probability the judge puts on the answer labels where
    it reads them (recorded per verdict by judges that report it; null otherwise);
  - `judge_picks_a_rate`: how often its top choice is A (0.5 for a judge without
    position bias);
  - `judge_accuracy`: how often its top choice is correct (invalid verdicts count
    wrong);
  - `judge_calibrated_share`: the verdicts corrected for the judge's label preference
    (the bundled judge reads the embedded model a second time with the answers
    reversed and averages: `calibrate: auto`, see `debate.core.calibration`), and
    `judge_picks_a_rate_uncalibrated` / `judge_accuracy_uncalibrated`: the same figures
    before that.

Prints one JSON object (progress on stderr). `--debater-model` / `--judge-model` take any
model string, e.g. `local?repetition_penalty=1.0` for the model without its default
penalty; repeat `--debater-model` to compare settings in one run (their debates share
the model's batches). Run from the repository root: python benchmarks/embedded_quality.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from debate.core.engine import Engine, ModelBindings, plan_units  # noqa: E402
from debate.core.loading import load_protocol  # noqa: E402
from debate.core.scenarios import load_scenarios  # noqa: E402

RUN = 5  # consecutive words that count as echoed or copied
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_TEMPLATE_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
OPEN: list[ModelBindings] = []
# fmt: off
STOPWORDS = frozenset([
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "from", "by", "with", "and",
    "or", "but", "is", "are", "was", "were", "be", "been", "being", "it", "its", "this",
    "that", "these", "those", "as", "do", "does", "did", "not", "no", "than", "then", "so",
    "if", "into", "about", "i", "you", "he", "she", "we", "they", "my", "your", "his",
    "her", "our", "their", "there", "what", "which", "who", "why", "how", "when",
])
# fmt: on


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def content(text: str) -> set[str]:
    return {_stem(w) for w in words(text) if w not in STOPWORDS}


def runs(tokens: list[str], size: int = RUN) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def repeats_a_sentence(text: str) -> bool:
    seen: set[tuple[str, ...]] = set()
    for sentence in _SENTENCE.split(text):
        key = tuple(words(sentence))
        if len(key) >= 4:
            if key in seen:
                return True
            seen.add(key)
    return False


def copied_share(text: str, earlier: list[str]) -> float:
    """The share of the text's words inside a run of RUN words found in one earlier turn."""
    tokens = words(text)
    if len(tokens) < RUN or not earlier:
        return 0.0
    covered = [False] * len(tokens)
    for source in earlier:
        known = runs(words(source))
        for i in range(len(tokens) - RUN + 1):
            if tuple(tokens[i : i + RUN]) in known:
                covered[i : i + RUN] = [True] * RUN
    return sum(covered) / len(tokens)


def fixed_wording(source: str) -> set[tuple[str, ...]]:
    """Runs of RUN words in a template's fixed text (between its tags)."""
    found: set[tuple[str, ...]] = set()
    for piece in _TEMPLATE_TAG.split(source):
        found |= runs(words(piece))
    return found


def names_answer(text: str, mine: str, others: list[str]) -> bool:
    own = content(mine)
    distinct = own - set().union(*(content(o) for o in others)) if others else own
    target = distinct or own
    return not target or len(target & content(text)) / len(target) >= 0.5


def speech_flags(record: dict[str, Any], prompts: dict[str, set[tuple[str, ...]]], limit: int):
    answers = record["answers"]
    restated = set().union(*(runs(words(text)) for text in [record["question"], *answers]))
    earlier: list[str] = []
    for message in record["messages"]:
        if message.get("kind", "speech") != "speech":
            continue
        text = message["text"]
        opening = (message.get("meta") or {}).get("opening") or ""
        own = text[len(opening) :] if opening and text.startswith(opening) else text
        defended = record["defends"].get(message["role"])
        others = [a for i, a in enumerate(answers) if i != defended]
        yield {
            "repeated": repeats_a_sentence(own),
            "echo": bool((runs(words(own)) & prompts.get(message["role"], set())) - restated),
            "copied": copied_share(own, earlier) >= 0.5,
            "copied_with_opening": copied_share(text, earlier) >= 0.5,
            "own_answer": defended is None or names_answer(text, answers[defended], others),
            "own_answer_generated": defended is None
            or names_answer(own, answers[defended], others),
            "over_limit": len(text.split()) > limit,
            "words": len(text.split()),
        }
        earlier.append(text)


def rate(flags: list[dict[str, Any]], key: str) -> float:
    return round(sum(1 for f in flags if f[key]) / len(flags), 3) if flags else 0.0


async def run_protocol(
    protocol: str, bindings: dict[str, str], limit: int, swap: bool
) -> list[dict[str, Any]]:
    bundle = load_protocol(protocol)
    scenarios = load_scenarios("truthfulqa-sample", limit=limit, seed=0)
    models = ModelBindings(bindings, default=bindings.get("", "local"))
    engine = Engine(bundle, models, concurrency=64)
    await engine.run(plan_units(bundle, scenarios, seed=0, swap=swap))
    OPEN.append(models)  # closed when every run is done: the runs share the local model
    if engine.failures:
        raise SystemExit(f"embedded_quality: units failed: {engine.failures[:1]}")
    return list(engine.records)


def note(message: str) -> None:
    print(f"[embedded_quality {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def debate_figures(records: list[dict[str, Any]]) -> dict[str, Any]:
    bundle = load_protocol("debate")
    prompts = {}
    for role, declared in bundle.protocol.roles.items():
        if declared.agent is not None:
            agent = bundle.agents[declared.agent]
            prompts[role] = fixed_wording(agent.system) | fixed_wording(agent.instruction)
    limit = bundle.protocol.word_limit or 100
    flags = [flag for record in records for flag in speech_flags(record, prompts, limit)]
    return {
        "speeches": len(flags),
        "repeated_sentence_rate": rate(flags, "repeated"),
        "echo_rate": rate(flags, "echo"),
        "copied_rate": rate(flags, "copied"),
        "copied_rate_with_opening": rate(flags, "copied_with_opening"),
        "own_answer_rate": rate(flags, "own_answer"),
        "own_answer_generated_rate": rate(flags, "own_answer_generated"),
        "over_limit_rate": rate(flags, "over_limit"),
        "mean_words": round(sum(f["words"] for f in flags) / max(1, len(flags)), 1),
        "debate_judge_accuracy": round(
            sum(1 for r in records if r["correct"]) / max(1, len(records)), 3
        ),
    }


def judge_figures(records: list[dict[str, Any]]) -> dict[str, Any]:
    verdicts = [r["final_verdict"] or {} for r in records]
    masses = [v["label_mass"] for v in verdicts if v.get("label_mass") is not None]
    raw = [v.get("raw_probs") or v.get("probs") for v in verdicts]
    return {
        "verdicts": len(verdicts),
        "judge_label_mass": round(sum(masses) / len(masses), 3) if masses else None,
        "judge_picks_a_rate": round(
            sum(1 for v in verdicts if v.get("chosen") == 0) / len(verdicts), 3
        ),
        "judge_accuracy": round(sum(1 for r in records if r["correct"]) / len(records), 3),
        "judge_calibrated_share": round(
            sum(1 for v in verdicts if v.get("calibration")) / len(verdicts), 3
        ),
        "judge_picks_a_rate_uncalibrated": round(
            sum(1 for p in raw if p and p[0] == max(p)) / len(verdicts), 3
        ),
        "judge_accuracy_uncalibrated": round(
            sum(
                1
                for p, r in zip(raw, records, strict=True)
                if p and p.index(max(p)) == r["correct_index"]
            )
            / len(verdicts),
            3,
        ),
        "judge_methods": sorted({str(v.get("method")) for v in verdicts}),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--debater-model",
        action="append",
        help="debaters' model string (default local); repeat to compare settings, run "
        "concurrently on one batcher: the first gives the top-level figures",
    )
    parser.add_argument("--judge-model", default="local")
    parser.add_argument("--questions", type=int, default=4, help="demo debates")
    parser.add_argument("--qa", type=int, default=20, help="direct-QA questions (0: skip)")
    parser.add_argument("--records", type=Path, help="also write the debate records here")
    args = parser.parse_args()
    debaters = args.debater_model or ["local"]
    started = time.perf_counter()
    settings = ", ".join(debaters)
    note(f"{args.questions} demo debates per setting ({settings}); judge {args.judge_model}")
    jobs = [
        run_protocol("debate", {"debater": d, "judge": args.judge_model}, args.questions, False)
        for d in debaters
    ]
    if args.qa:
        note(f"and direct QA on {args.qa} questions, both orders")
        jobs.append(run_protocol("direct-qa", {"judge": args.judge_model}, args.qa, True))
    try:
        outcomes = await asyncio.gather(*jobs)
    finally:
        for models in OPEN:
            await models.aclose()
    result: dict[str, Any] = {
        "debater_model": debaters[0],
        "judge_model": args.judge_model,
        **debate_figures(outcomes[0]),
    }
    if args.qa:
        result.update(judge_figures(outcomes[-1]))
    if len(debaters) > 1:
        result["compared"] = [
            {"debater_model": d, **debate_figures(records)}
            for d, records in zip(debaters[1:], outcomes[1 : len(debaters)], strict=True)
        ]
    result["wall_s"] = round(time.perf_counter() - started, 1)
    if args.records:
        args.records.write_text(
            json.dumps({d: r for d, r in zip(debaters, outcomes, strict=False)}), "utf-8"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
