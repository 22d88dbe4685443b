"""The append-only run store: where a run's records live on disk, and reading them back.

A `RunStore` is one directory: `spec.yaml` (what ran), `transcripts.jsonl` (one
record per finished unit), `failures.jsonl` (units given up, with the reason) and
`summary.json`. Each record is flushed to the operating system as it is written, so a
crash or a kill loses at most the units in flight; a torn last line is cut off on
reopen. A background thread fsyncs after every write (group commit: one fsync covers
all records written before it began), so a power loss can lose only records written
in the last fsync's time, and the event loop never waits for the disk.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from debate.core.files import check_regular, loads_json
from debate.core.record import UnitRecord
from debate.errors import DebateInputError, pydantic_lines

TRANSCRIPTS = "transcripts.jsonl"
FAILURES = "failures.jsonl"


def _repair_tail(path: Path, block: int = 1 << 16) -> None:
    """Cut off a last line that a crash left half written (reading only the file's end)."""
    if not path.exists():
        return
    with path.open("rb+") as handle:
        end = handle.seek(0, os.SEEK_END)
        if end == 0:
            return
        handle.seek(end - 1)
        if handle.read(1) == b"\n":
            return
        position = end
        while position > 0:
            start = max(0, position - block)
            handle.seek(start)
            chunk = handle.read(position - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                handle.truncate(start + newline + 1)
                return
            position = start
        handle.truncate(0)


_ID_PREFIX = re.compile(r'\{"id": ("(?:[^"\\]|\\.)*")')


def read_ids(path: Path) -> Iterator[str]:
    """The `id` of each complete line of a JSONL file of records, without decoding the
    rest of the line when it starts with the id, as the run store writes it."""
    if not path.exists():
        return
    check_regular(path)
    with path.open(encoding="utf-8") as handle:
        number = 0
        try:
            for number, line in enumerate(handle, 1):  # noqa: B007 - named in errors
                if not line.endswith("\n"):
                    return
                found = _ID_PREFIX.match(line)
                try:
                    unit = json.loads(found.group(1)) if found else loads_json(line)["id"]
                except (ValueError, KeyError, TypeError, IndexError):
                    unit = None
                if not isinstance(unit, str):
                    raise DebateInputError(
                        f"{path}: line {number}: expected a record object with a string 'id'"
                    )
                yield unit
        except UnicodeDecodeError:
            raise DebateInputError(f"{path}: line {number + 1}: not UTF-8 text") from None


def read_jsonl(
    path: Path, typed: bool = False, ids: bool | None = None
) -> Iterator[dict[str, Any]]:
    """Records of a JSONL file, skipping a torn final line. With `ids` (the default when
    `typed`) each must be an object with a string `id`; `typed` checks each against
    `UnitRecord` (a unit record's fields)."""
    ids = typed if ids is None else ids
    if not path.exists():
        return
    check_regular(path)
    with path.open(encoding="utf-8", errors="strict") as handle:
        number = 0
        try:
            for number, line in enumerate(handle, 1):  # noqa: B007 - named in errors
                if not line.endswith("\n"):
                    return
                try:
                    data = loads_json(line)
                except ValueError as exc:  # JSONDecodeError is a ValueError
                    reason = getattr(exc, "msg", None) or str(exc)
                    raise DebateInputError(
                        f"{path}: line {number}: not valid JSON ({reason})"
                    ) from None
                yield _record(path, number, data, typed) if ids else data
        except UnicodeDecodeError:
            raise DebateInputError(f"{path}: line {number + 1}: not UTF-8 text") from None


def _record(path: Path, number: int, data: Any, typed: bool) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise DebateInputError(
            f"{path}: line {number}: expected a record object with a string 'id'"
        )
    if typed:
        try:
            UnitRecord.model_validate(data)
        except ValidationError as exc:
            raise DebateInputError(pydantic_lines(f"{path}: line {number}", exc)[0]) from None
    return data


class RunStore:
    """The run directory: single writer, append-only, resumable by unit id."""

    def __init__(self, directory: Path, *, resume: bool = False) -> None:
        self.directory = directory
        self.transcripts_path = directory / TRANSCRIPTS
        self.failures_path = directory / FAILURES
        if directory.exists() and not directory.is_dir():
            raise DebateInputError(f"--out: {directory}: exists and is not a directory")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DebateInputError(f"--out: {directory}: cannot create ({exc.strerror})") from None
        has_records = self.transcripts_path.exists() and self.transcripts_path.stat().st_size > 0
        if has_records and not resume:
            raise DebateInputError(
                f"--out: {directory}: already holds a run; pass --resume to continue it "
                "or choose another --out"
            )
        for path in (self.transcripts_path, self.failures_path):
            if path.exists():
                check_regular(path)
        try:
            _repair_tail(self.transcripts_path)
            _repair_tail(self.failures_path)
            # what resume needs: the ids finished before this run (ids written from now on
            # are not kept, so memory does not grow with the run)
            self.done: set[str] = set(read_ids(self.transcripts_path))
            self.written = 0
            self._handle = self.transcripts_path.open("a", encoding="utf-8")
            self._failures = self.failures_path.open("a", encoding="utf-8")
        except OSError as exc:
            raise DebateInputError(f"--out: {directory}: cannot write ({exc.strerror})") from None
        self._sync = GroupSync(self._handle, self._failures)

    def write_spec(self, spec: dict[str, Any]) -> None:
        path = self.directory / "spec.yaml"
        temporary = path.with_suffix(".yaml.tmp")
        temporary.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), "utf-8")
        os.replace(temporary, path)

    def _append(self, handle: Any, record: dict[str, Any]) -> None:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        self._sync.request()

    def append(self, record: dict[str, Any]) -> None:
        """Write a finished unit's record (a unit finished before this run is skipped)."""
        if record["id"] in self.done:
            return
        self._append(self._handle, record)
        self.written += 1

    def append_failure(self, record: dict[str, Any]) -> None:
        self._append(self._failures, record)

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """The records on disk, one at a time."""
        return read_jsonl(self.transcripts_path, typed=True)

    def records(self) -> list[dict[str, Any]]:
        """The records on disk as a list (small runs; large ones use `iter_records`)."""
        return list(self.iter_records())

    def failures(self) -> list[dict[str, Any]]:
        """Failures of units that have not since finished."""
        return outstanding_failures(self.directory)

    def close(self) -> None:
        self._sync.close()
        self._handle.close()
        self._failures.close()


class GroupSync:
    """fsyncs a few open files on a background thread whenever asked, coalescing asks.

    The writer has already flushed to the OS (which alone survives a killed process);
    this adds durability against power loss without the writer waiting on the disk,
    which took about half a millisecond per record on the event loop. An fsync error
    is raised to the writer on its next ask, or at `close`, which syncs once more.
    """

    def __init__(self, *handles: Any) -> None:
        self._handles = handles
        self._asked = threading.Event()
        self._closing = False
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._serve, name="run-store-fsync", daemon=True)
        self._thread.start()

    def request(self) -> None:
        if self._error is not None:
            raise self._error
        # already asked: the syncer clears the ask before it syncs, so the sync it has yet
        # to start covers what was written before this call (and `set` takes a lock)
        if not self._asked.is_set():
            self._asked.set()

    def _serve(self) -> None:
        while True:
            self._asked.wait()
            if self._closing:
                return
            self._asked.clear()
            try:
                self._sync_all()
            except OSError as exc:
                self._error = exc
                return

    def _sync_all(self) -> None:
        for handle in self._handles:
            os.fsync(handle.fileno())

    def close(self) -> None:
        self._closing = True
        self._asked.set()
        self._thread.join()
        self._sync_all()
        if self._error is not None:
            raise self._error


def latest_failures(directory: Path) -> dict[str, dict[str, Any]]:
    """The last failure of each unit that ever failed (finished since or not)."""
    return {str(record["id"]): record for record in read_jsonl(directory / FAILURES, ids=True)}


def outstanding_failures(directory: Path) -> list[dict[str, Any]]:
    """Failures of units that have not since finished (one pass over the ids)."""
    latest = latest_failures(directory)
    if latest:
        for unit in read_ids(directory / TRANSCRIPTS):
            latest.pop(unit, None)
    return list(latest.values())


def check_run_dir(directory: Path) -> Path:
    """The transcripts file of a run directory; a one-line error when there is none."""
    path = directory / TRANSCRIPTS
    if not path.exists():
        raise DebateInputError(f"{directory}: no {TRANSCRIPTS} (not a run directory?)")
    return path


def load_run(directory: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Records and outstanding failures of a run directory, in memory (small runs; a
    report over a large run streams with `read_jsonl` and `latest_failures`)."""
    records = list(read_jsonl(check_run_dir(directory), typed=True))
    done = {record["id"] for record in records}
    latest = latest_failures(directory)
    return records, [record for unit, record in latest.items() if unit not in done]
