"""User-facing errors: each renders as one line naming the file, the field and the reason."""

from __future__ import annotations


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
