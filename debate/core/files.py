"""Reading untrusted input files: regular files only, bounded sizes, bounded structure.

| limit | value |
|---|---|
| a declaration (YAML) file | `MAX_YAML_BYTES` (10 MB) |
| values a YAML file expands to, aliases expanded | `MAX_YAML_VALUES` (100,000) |
| nesting depth of a YAML file | `MAX_DEPTH` (100) |

A FIFO, a device or a folder given where a file is expected is refused before it is
opened (opening a FIFO blocks until someone writes to it). Every problem is a
`DebateInputError` naming the file.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import yaml

from debate.errors import DebateInputError, where

MAX_YAML_BYTES = 10_000_000
MAX_YAML_VALUES = 100_000
MAX_DEPTH = 100


def check_regular(path: Path, shown: object = None) -> None:
    """Refuse anything but an existing regular file (following links), without opening it."""
    shown = path if shown is None else shown
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise DebateInputError(where(shown, None, "no such file")) from None
    except OSError as exc:
        raise DebateInputError(where(shown, None, f"cannot read ({exc.strerror})")) from None
    if stat.S_ISDIR(mode):
        raise DebateInputError(where(shown, None, "is a folder, not a file"))
    if not stat.S_ISREG(mode):
        raise DebateInputError(where(shown, None, "not a regular file (a FIFO or device?)"))


def read_text(path: Path, shown: object = None, limit: int | None = None) -> str:
    """The UTF-8 text of a regular file, at most `limit` bytes."""
    shown = path if shown is None else shown
    check_regular(path, shown)
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1 if limit is not None else -1)
    except OSError as exc:
        raise DebateInputError(where(shown, None, f"cannot read ({exc.strerror})")) from None
    if limit is not None and len(data) > limit:
        raise DebateInputError(where(shown, None, f"larger than the limit of {limit:,} bytes"))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DebateInputError(where(shown, None, f"not UTF-8 text (line {line})")) from None


def check_structure(data: Any, shown: object, limit: int = MAX_YAML_VALUES) -> None:
    """Refuse data nested deeper than `MAX_DEPTH` or expanding to more than `limit`
    values (YAML aliases make shared values that every later copy or dump expands)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, int, bool]] = [(data, 1, False)]
    while stack:
        value, depth, done = stack.pop()
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise DebateInputError(where(shown, None, f"nested deeper than {MAX_DEPTH} levels"))
        children = list(value.values()) if isinstance(value, dict) else value
        if done:
            total = 1 + sum(sizes.get(id(child), 1) for child in children)
            if total > limit:
                reason = f"expands to more than {limit:,} values (YAML aliases?)"
                raise DebateInputError(where(shown, None, reason))
            sizes[id(value)] = total
        elif id(value) not in sizes:
            stack.append((value, depth, True))
            stack.extend((child, depth + 1, False) for child in children)


def load_yaml(path: Path, shown: object = None) -> Any:
    """A YAML file's data, refused with one line when unreadable, malformed or too big."""
    shown = path if shown is None else shown
    text = read_text(path, shown, MAX_YAML_BYTES)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise DebateInputError(where(shown, None, f"{at}invalid YAML ({problem})")) from None
    except RecursionError:
        raise DebateInputError(
            where(shown, None, f"nested deeper than {MAX_DEPTH} levels")
        ) from None
    check_structure(data, shown)
    return data


def loads_json(text: str) -> Any:
    """`json.loads`, refusing (as `ValueError`) a document nested too deeply to parse."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
