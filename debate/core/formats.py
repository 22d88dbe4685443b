"""Readers for the scenario data formats: TruthfulQA CSV, LOGICOM claims CSV, NYU debates, JSONL.

Each reader yields plain scenario records (dicts of `debate.core.scenarios.Scenario` fields),
so this module knows nothing about filters, limits or scenario sets. `detect_format`
recognises a data path by folder layout, file suffix and CSV header. Problems raise a
one-line `DebateInputError` naming the file and the line or field.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from debate.core.files import check_regular, loads_json
from debate.core.treebank import detokenize
from debate.errors import DebateInputError, where

Record = dict[str, Any]
Reader = Callable[[Path, int, dict[str, str]], Iterator[Record]]

JSONL_KEYS = ("id", "question", "answers", "correct_index", "correct_answer", "story")
TRUTHFULQA_COLUMNS = ("Question", "Best Answer", "Incorrect Answers")
LOGICOM_COLUMNS = ("claim", "reason", "title")
NYU_METADATA_FILE = "debates-metadata.jsonl"


def display_path(path: Path) -> str:
    """A path as error lines show it: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def detect_format(path: Path) -> str:
    """The loader for a data path: by folder layout, file suffix, and CSV header."""
    if path.is_dir():
        if _nyu_files(path):
            return "nyu"
        raise DebateInputError(
            where(display_path(path), None, "folder holds no NYU debate files (official/*.json)")
        )
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return "jsonl"
    if suffix == ".json":
        return "nyu"
    if suffix == ".csv":
        header = set(_csv_header(path))
        if set(TRUTHFULQA_COLUMNS) <= header:
            return "truthfulqa"
        if set(LOGICOM_COLUMNS) <= header:
            return "logicom"
        raise DebateInputError(
            where(
                display_path(path), None, "CSV header is neither TruthfulQA's nor LOGICOM claims'"
            )
        )
    raise DebateInputError(
        where(
            display_path(path),
            None,
            "unrecognised data format (expected a TruthfulQA or LOGICOM .csv, "
            "an NYU debate folder or .json, a .jsonl, or a scenario-set .yaml)",
        )
    )


# ---------------------------------------------------------------- CSV formats


def _csv_header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [name.strip() for name in next(csv.reader(handle), [])]
    except UnicodeDecodeError:
        raise DebateInputError(where(display_path(path), None, "not UTF-8 text")) from None
    except (OSError, csv.Error) as exc:
        reason = f"cannot read a CSV header ({exc})"
        raise DebateInputError(where(display_path(path), None, reason)) from None


def _csv_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number where the record starts, row) for each record; checks the columns."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in required if name not in columns]
        if missing:
            raise DebateInputError(
                where(display_path(path), None, f"missing column '{missing[0]}'")
            )
        reader.fieldnames = columns
        start = reader.line_num + 1
        for row in reader:
            yield start, {key: (value or "") for key, value in row.items() if key is not None}
            start = reader.line_num + 1


def _required(row: dict[str, str], column: str, path: Path, line: int) -> str:
    value = row.get(column, "").strip()
    if not value:
        raise DebateInputError(
            where(display_path(path), f"line {line}", f"field '{column}': missing")
        )
    return value


def _split_answers(text: str) -> list[str]:
    return [part.strip() for part in text.split("; ") if part.strip()]


def _rng(seed: int, scenario_id: str) -> random.Random:
    """A per-scenario RNG, so a scenario's draw does not depend on which others are loaded."""
    digest = hashlib.sha256(f"{seed}:{scenario_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _read_truthfulqa(path: Path, seed: int, mapping: dict[str, str]) -> Iterator[Record]:
    for index, (line, row) in enumerate(_csv_rows(path, TRUTHFULQA_COLUMNS)):
        scenario_id = f"truthfulqa-{index}"
        question = _required(row, "Question", path, line)
        best = _required(row, "Best Answer", path, line)
        incorrect = _split_answers(_required(row, "Incorrect Answers", path, line))
        rng = _rng(seed, scenario_id)
        wrong = rng.choice(incorrect)
        correct_first = rng.random() < 0.5
        yield dict(
            id=scenario_id,
            question=question,
            answers=[best, wrong] if correct_first else [wrong, best],
            correct_index=0 if correct_first else 1,
            source="truthfulqa",
            fields={
                "best_answer": best,
                "correct_answers": _split_answers(row.get("Correct Answers", "")),
                "incorrect_answers": incorrect,
                "category": row.get("Category", "").strip(),
                "type": row.get("Type", "").strip(),
            },
            metadata={"row": index, "line": line, "source_url": row.get("Source", "").strip()},
        )


def _read_logicom(path: Path, seed: int, mapping: dict[str, str]) -> Iterator[Record]:
    seen: set[str] = set()
    for index, (line, row) in enumerate(_csv_rows(path, LOGICOM_COLUMNS)):
        topic_id = row.get("id", "").strip() or row.get("", "").strip() or str(index)
        # ids link to LOGICOM's debate logs; a repeated one is kept apart by its row.
        scenario_id = (
            f"logicom-{topic_id}" if topic_id not in seen else f"logicom-{topic_id}-{index}"
        )
        seen.add(topic_id)
        yield dict(
            id=scenario_id,
            question=_required(row, "claim", path, line),
            source="logicom",
            fields={
                "topic": row.get("title", "").strip(),
                "claim": row["claim"].strip(),
                "reason": _required(row, "reason", path, line),
                "warrant_one": row.get("warrant_one", "").strip(),
                "warrant_two": row.get("warrant_two", "").strip(),
                "debate_info": row.get("debateInfo", "").strip(),
                "original_text": row.get("original_text", "").strip(),
            },
            metadata={
                "topic_id": topic_id,
                "row": row.get("", "").strip() or str(index),
                "line": line,
                "correct_label": row.get("correctLabelW0orW1", "").strip(),
            },
        )


# ---------------------------------------------------------------- NYU debates


def _nyu_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    folder = path / "official" if (path / "official").is_dir() else path
    return sorted(folder.glob("*.json"))


def _read_json(path: Path) -> Any:
    check_regular(path, display_path(path))
    try:
        return loads_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DebateInputError(
            where(display_path(path), None, f"cannot read ({exc.strerror})")
        ) from None
    except UnicodeDecodeError:
        raise DebateInputError(where(display_path(path), None, "not UTF-8 text")) from None
    except json.JSONDecodeError as exc:
        reason = f"line {exc.lineno}: invalid JSON ({exc.msg})"
        raise DebateInputError(where(display_path(path), None, reason)) from None
    except ValueError as exc:
        raise DebateInputError(where(display_path(path), None, f"invalid JSON ({exc})")) from None


def _nyu_debate_metadata(files: list[Path]) -> dict[str, dict[str, Any]]:
    """The lines of `debates-metadata.jsonl` (next to the files or one folder up), by name."""
    if not files:
        return {}
    folder = files[0].parent
    for candidate in (folder / NYU_METADATA_FILE, folder.parent / NYU_METADATA_FILE):
        if candidate.is_file():
            return {
                str(record.get("name")): record
                for _, record in _jsonl_records(candidate)
                if isinstance(record, dict)
            }
    return {}


def _read_nyu(path: Path, seed: int, mapping: dict[str, str]) -> Iterator[Record]:
    files = _nyu_files(path)
    debate_metadata = _nyu_debate_metadata(files)
    stories: dict[str, tuple[list[str], str]] = {}
    for file in files:
        yield _nyu_scenario(file, _read_json(file), debate_metadata.get(file.stem), stories)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _nyu_scenario(
    file: Path,
    raw: Any,
    debate_metadata: dict[str, Any] | None,
    stories: dict[str, tuple[list[str], str]],
) -> Record:
    shown = display_path(file)
    setup = raw.get("setup") if isinstance(raw, dict) else None
    if not isinstance(setup, dict):
        raise DebateInputError(where(shown, "setup", "missing (not an NYU debate file)"))
    question = setup.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DebateInputError(where(shown, "setup.question", "missing"))
    answers = setup.get("answers")
    if not isinstance(answers, list) or not all(isinstance(answer, str) for answer in answers):
        raise DebateInputError(where(shown, "setup.answers", "expected a list of strings"))
    correct = setup.get("correctAnswerIndex")
    if correct is not None and (not isinstance(correct, int) or not 0 <= correct < len(answers)):
        raise DebateInputError(where(shown, "setup.correctAnswerIndex", "not an answer index"))
    materials = setup.get("sourceMaterial")
    variants = materials.values() if isinstance(materials, dict) else []
    material = next((m for m in variants if isinstance(m, dict)), {})
    contents = material.get("contents") or []
    if isinstance(contents, str):  # plain text instead of tokens
        contents = contents.split(" ")
    if not isinstance(contents, list):
        reason = "contents: expected a list of tokens"
        raise DebateInputError(where(shown, "setup.sourceMaterial", reason))
    article_id = str(material.get("articleId", "")) or None
    title = str(material.get("title", "")) or None
    # Debates of one article share its tokens and text (rebuilding it is the slow part).
    key = article_id or title or file.stem
    cached = stories.get(key)
    if cached is None or cached[0] != contents:
        tokens = [str(token) for token in contents]
        cached = (tokens, detokenize(tokens)[0])
        stories[key] = cached
    tokens, story = cached
    roles = _mapping(setup.get("roles"))
    debaters = sum(1 for role in roles if str(role).startswith("Debater"))
    line = debate_metadata or {}
    setting = _mapping(line.get("setting"))
    status = line.get("status")
    return dict(
        id=f"nyu-{file.stem}",
        question=question.strip(),
        answers=[answer.strip() for answer in answers],
        correct_index=correct,
        story=story or None,
        source="nyu",
        fields={"title": title or ""},
        metadata={
            "name": file.stem,
            "article_id": article_id,
            "title": title,
            "story_tokens": tokens,
            "rounds": raw.get("rounds") or [],
            "roles": roles,
            "rules": setup.get("rules"),
            "is_debate": setting.get("isDebate", debaters >= 2),
            "is_human": setting.get("isHuman"),
            "included_in_paper": line.get("includedInPaper"),
            "status": next(iter(status), None) if isinstance(status, dict) else status,
            "debate_metadata": debate_metadata,
        },
    )


# ---------------------------------------------------------------- generic JSONL


def _jsonl_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for each non-blank line; bad JSON names its line."""
    shown = display_path(path)
    check_regular(path, shown)
    with path.open(encoding="utf-8-sig") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                yield number, loads_json(text)
            except ValueError as exc:  # JSONDecodeError is one
                reason = getattr(exc, "msg", None) or str(exc)
                raise DebateInputError(
                    where(shown, f"line {number}", f"invalid JSON ({reason})")
                ) from None


def _read_jsonl(path: Path, seed: int, mapping: dict[str, str]) -> Iterator[Record]:
    shown = display_path(path)
    keys = {key: mapping.get(key, key) for key in JSONL_KEYS}
    for index, (line, record) in enumerate(_jsonl_records(path)):

        def fail(key: str, reason: str, line: int = line) -> DebateInputError:
            return DebateInputError(where(shown, f"line {line}", f"field '{key}': {reason}"))

        if not isinstance(record, dict):
            raise DebateInputError(where(shown, f"line {line}", "expected a JSON object"))
        question = record.get(keys["question"])
        if question is None or (isinstance(question, str) and not question.strip()):
            raise fail(keys["question"], "missing")
        if not isinstance(question, str):
            raise fail(keys["question"], "expected a string")
        raw_id = record.get(keys["id"], f"{path.stem}-{index}")
        if not isinstance(raw_id, str | int) or isinstance(raw_id, bool) or str(raw_id) == "":
            raise fail(keys["id"], "expected a non-empty string or integer")
        answers = record.get(keys["answers"], [])
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise fail(keys["answers"], "expected a list of strings")
        correct = record.get(keys["correct_index"])
        if correct is not None and (
            isinstance(correct, bool)
            or not isinstance(correct, int)
            or not 0 <= correct < len(answers)
        ):
            raise fail(keys["correct_index"], f"expected an index into the {len(answers)} answers")
        correct_text = record.get(keys["correct_answer"])
        if correct_text is not None:
            if correct_text not in answers:
                raise fail(keys["correct_answer"], f"{correct_text!r} is not among answers")
            if correct is not None and answers[correct] != correct_text:
                raise fail(keys["correct_answer"], "disagrees with correct_index")
            correct = answers.index(correct_text)
        story = record.get(keys["story"])
        if story is not None and not isinstance(story, str):
            raise fail(keys["story"], "expected a string")
        consumed = set(keys.values())
        yield dict(
            id=str(raw_id),
            question=question.strip(),
            answers=answers,
            correct_index=correct,
            story=story,
            source="jsonl",
            fields={key: value for key, value in record.items() if key not in consumed},
            metadata={"line": line},
        )


READERS: dict[str, Reader] = {
    "truthfulqa": _read_truthfulqa,
    "nyu": _read_nyu,
    "logicom": _read_logicom,
    "jsonl": _read_jsonl,
}
