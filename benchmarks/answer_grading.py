"""Accuracy of the answer graders on the labelled set of free-text answers.

The set is `tests/data/graded_answers.jsonl` (56 answers to TruthfulQA questions, each
labelled correct, incorrect or not gradable; the failure cases of the old grader
included). Prints one JSON object: for the word matcher (`debate.analysis.answers`) and,
with `--grader MODEL`, for a model grader (`debate.analysis.model_grading`):
- `accuracy`: share of answers graded as labelled (an ungraded answer matches only a
  "not gradable" label);
- `graded_share`: share of answers given a grade at all;
- `wrong_when_graded`: answers given the opposite grade of their label.

Run from the repository root: python benchmarks/answer_grading.py [--grader local]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_answer_grading import labelled_set  # noqa: E402

from debate.analysis.answers import Grade, extract_answer, grade_answer  # noqa: E402
from debate.analysis.model_grading import grade_with_model  # noqa: E402
from debate.models import create_model  # noqa: E402


def figures(labels: list[Any], grades: list[Grade]) -> dict[str, Any]:
    pairs = list(zip(labels, grades, strict=True))
    graded = [(label, g) for label, g in pairs if g.correct is not None]
    return {
        "n": len(pairs),
        "accuracy": round(sum(1 for label, g in pairs if g.correct == label) / len(pairs), 3),
        "graded_share": round(len(graded) / len(pairs), 3),
        "wrong_when_graded": sum(1 for label, g in graded if g.correct != label),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grader", help="a model string, e.g. local or openai/<model>")
    args = parser.parse_args()
    items = labelled_set()
    labels = [item["label"] for item, _ in items]
    answers = [extract_answer(str(item["answer"])) for item, _ in items]
    result: dict[str, Any] = {
        "word_matcher": figures(
            labels, [grade_answer(a, gold) for a, (_, gold) in zip(answers, items, strict=True)]
        )
    }
    if args.grader:
        model = create_model(args.grader)
        try:
            grades = await asyncio.gather(
                *(
                    grade_with_model(model, gold.question, answer, gold)
                    for answer, (_, gold) in zip(answers, items, strict=True)
                )
            )
        finally:
            await model.aclose()
        result["model_grader"] = {"model": args.grader, **figures(labels, list(grades))}
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
