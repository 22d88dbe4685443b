"""The run store: records readable as soon as written, fsynced in the background,
fsync errors surfaced rather than lost."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from debate.core import store as transcript
from debate.core.store import RunStore, read_jsonl


def test_records_are_readable_at_once_and_synced_by_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_size)
        real_fsync(fd)

    monkeypatch.setattr(transcript.os, "fsync", counting_fsync)
    store = RunStore(tmp_path / "run")
    for number in range(50):
        store.append({"id": f"u{number}", "n": number})
        # flushed to the OS before append returns: another reader sees it now
        assert len(list(read_jsonl(store.transcripts_path))) == number + 1
    store.append_failure({"id": "lost", "reason": "server down"})
    store.close()
    final_size = store.transcripts_path.stat().st_size
    assert final_size in synced  # the last fsync covered every record
    assert [r["id"] for r in read_jsonl(store.transcripts_path)] == [f"u{i}" for i in range(50)]


def test_fsync_runs_off_the_writing_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: set[str] = set()
    synced = threading.Event()

    def recording_fsync(fd: int) -> None:
        threads.add(threading.current_thread().name)
        synced.set()

    monkeypatch.setattr(transcript.os, "fsync", recording_fsync)
    store = RunStore(tmp_path / "run")
    store.append({"id": "a"})
    assert synced.wait(30)  # the background thread syncs without being closed
    store.close()
    assert "run-store-fsync" in threads


def test_fsync_error_reaches_the_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "disk gone")

    monkeypatch.setattr(transcript.os, "fsync", failing_fsync)
    store = RunStore(tmp_path / "run")
    store.append({"id": "a"})
    with pytest.raises(OSError, match="disk gone"):
        for number in range(1000):  # the background error arrives on a later write
            store.append({"id": f"b{number}"})
        store.close()
