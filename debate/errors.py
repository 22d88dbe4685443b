"""User-facing errors: each renders as one line naming the file, the field and the reason."""

from __future__ import annotations

from pydantic import ValidationError

EXIT_OK = 0
"""Everything ran."""
EXIT_BAD_INPUT = 2
"""Bad input (a declaration, a data file, an option, a run folder): nothing or only part ran."""
EXIT_UNITS_FAILED = 3
"""`debate run` finished, but some units failed for good (listed in `failures.jsonl`)."""
EXIT_BUDGET = 4
"""`--max-cost` or `--max-tokens` stopped the run before all its units (none failed);
`--resume` with a larger budget continues it."""


class DebateInputError(Exception):
    """Bad input from the user (a declaration, a data file, a CLI argument).

    The CLI prints each line of `lines` and exits with status 2, without a traceback.
    """

    def __init__(self, *lines: str) -> None:
        self.lines = [line for line in lines if line]
        super().__init__("\n".join(self.lines))


def where(path: object, field: str | None, reason: str) -> str:
    """Format `path: field: reason` (the field is left out when there is none)."""
    return f"{path}: {field}: {reason}" if field else f"{path}: {reason}"


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_TYPE_TAGS = frozenset({"int", "str", "float", "bool", "list", "dict", "none", "is-instance"})


def _is_tag(part: int | str) -> bool:
    """A location part naming a union member (`int`, `literal['a','b']`), not a field."""
    return isinstance(part, str) and (part in _TYPE_TAGS or "[" in part)


def pydantic_lines(path: object, error: ValidationError, prefix: str = "") -> list[str]:
    """One line per field: the alternatives of a union are said on the same line."""
    merged: dict[str, list[str]] = {}
    for item in error.errors():
        loc = _format_loc(tuple(part for part in item["loc"] if not _is_tag(part)))
        field = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
        message = str(item["msg"]).removeprefix("Value error, ")
        reasons = merged.setdefault(field, [])
        if message not in reasons:
            reasons.append(message)
    return [
        f"{path}: {field}: {' or '.join(reasons)}" if field else f"{path}: {' or '.join(reasons)}"
        for field, reasons in merged.items()
    ]
