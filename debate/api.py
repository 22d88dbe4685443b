"""The Python face for notebooks and scripts: `debate.run(...)` and `debate.load_run(...)`.

`run` takes the same code path as `debate run` (`debate.runner.execute_run`) and returns
a `Run`: a handle on the run directory whose records stream from `transcripts.jsonl`
as typed `UnitRecord`s. Inside an already running event loop (Jupyter), the run goes on
a worker thread so the caller's loop is not re-entered; `arun` is the awaitable form.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path
from typing import Any

from rich.console import Console

from debate.analysis.report import run_measures, summarize
from debate.core.record import UnitRecord
from debate.core.store import FAILURES, TRANSCRIPTS, read_jsonl
from debate.core.store import load_run as load_records
from debate.errors import DebateInputError
from debate.runner import RunOptions, default_run_dir, execute_run

_OPTION_NAMES = frozenset(f.name for f in fields(RunOptions))


class Run:
    """A run directory: its spec, summary, failures and records."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / TRANSCRIPTS).is_file() and not (self.path / "spec.yaml").is_file():
            raise DebateInputError(f"{self.path}: not a run directory (no {TRANSCRIPTS})")

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def records(self) -> Iterator[UnitRecord]:
        """The finished units, typed, read one line at a time (a fresh pass on each access)."""
        path = self.path / TRANSCRIPTS
        if not path.exists():
            return iter(())
        return (UnitRecord.from_json(data) for data in read_jsonl(path))

    @property
    def failures(self) -> list[dict[str, Any]]:
        """Units given up, with the reason."""
        path = self.path / FAILURES
        return list(read_jsonl(path)) if path.exists() else []

    @property
    def spec(self) -> dict[str, Any]:
        """`spec.yaml`: what ran (resolved declarations, models, seed, versions)."""
        import yaml

        path = self.path / "spec.yaml"
        loaded = yaml.safe_load(path.read_text("utf-8")) if path.exists() else None
        return loaded if isinstance(loaded, dict) else {}

    @property
    def summary(self) -> dict[str, Any]:
        """`summary.json`, or the summary computed from the records when there is none yet."""
        path = self.path / "summary.json"
        if path.exists():
            loaded = json.loads(path.read_text("utf-8"))
            if isinstance(loaded, dict):
                return loaded
        records, failures = load_records(self.path)
        return summarize(records, failures, measures=run_measures(self.path))

    def rows(self) -> Iterator[dict[str, Any]]:
        """One flat row per unit: ids, the final verdict, correctness, tokens, timing."""
        for record in self.records:
            final = record.final_verdict or {}
            tokens: dict[str, int] = {}
            for counts in record.usage.values():
                for key, value in counts.items():
                    tokens[key] = tokens.get(key, 0) + int(value)
            yield {
                "id": record.id,
                "protocol": record.protocol,
                "scenario_id": record.scenario_id,
                "swap": record.swap,
                "repeat": record.repeat,
                "variant": json.dumps(record.variant, sort_keys=True),
                "question": record.question,
                "answers": list(record.answers),
                "correct_index": record.correct_index,
                "chosen": final.get("chosen"),
                "probs": final.get("probs"),
                "verdict_valid": final.get("valid"),
                "verdict_method": final.get("method"),
                "correct": record.correct,
                "stop_reason": record.stop_reason,
                "rounds": record.rounds,
                "models": json.dumps(record.models, sort_keys=True),
                "prompt_tokens": tokens.get("prompt_tokens", 0),
                "completion_tokens": tokens.get("completion_tokens", 0),
                "wall_s": record.timing.get("wall_s"),
                "messages": [
                    {
                        "role": str(m.get("role", "")),
                        "speaker": str(m.get("speaker", "")),
                        "kind": str(m.get("kind", "")),
                        "text": str(m.get("text", "")),
                    }
                    for m in record.messages
                ],
            }

    def to_pandas(self) -> Any:
        """A pandas DataFrame of `rows()` (needs pandas: `pip install debate-lab[analysis]`)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise DebateInputError(
                "to_pandas needs pandas: pip install 'debate-lab[analysis]'"
            ) from exc
        return pd.DataFrame(list(self.rows()))

    def to_hf_dataset(self) -> Any:
        """A Hugging Face `datasets.Dataset` of `rows()` (needs the `train` extra)."""
        try:
            from datasets import Dataset
        except ImportError as exc:
            raise DebateInputError(
                "to_hf_dataset needs datasets: pip install 'debate-lab[train]'"
            ) from exc
        return Dataset.from_list(list(self.rows()))


def load_run(path: str | Path) -> Run:
    """Open an existing run directory."""
    return Run(path)


def _options(
    protocol: str,
    scenarios: str,
    models: Mapping[str, str] | str | None,
    out: str | Path | None,
    options: dict[str, Any],
) -> RunOptions:
    unknown = sorted(set(options) - _OPTION_NAMES)
    if unknown:
        raise TypeError(f"debate.run: unknown option(s): {', '.join(unknown)}")
    bindings = {"": models} if isinstance(models, str) else dict(models or {})
    options.setdefault("show", False)
    return RunOptions(
        protocol=protocol,
        scenarios=scenarios,
        bindings=bindings,
        out=Path(out) if out is not None else default_run_dir(protocol),
        **options,
    )


def _execute(options: RunOptions, console: Console | None) -> Run:
    execute_run(options, console or Console(file=io.StringIO(), width=120))
    return Run(options.out)


def run(
    protocol: str,
    scenarios: str = "truthfulqa-sample",
    models: Mapping[str, str] | str | None = None,
    *,
    out: str | Path | None = None,
    console: Console | None = None,
    **options: Any,
) -> Run:
    """Run a protocol as `debate run` does and return the `Run`.

    `models` binds roles to model strings (`{"judge": "openai/gpt-4o-mini"}`; the key ""
    or a plain string binds every role). Other keyword options are `debate run`'s:
    `limit`, `seed`, `swap`, `repeats`, `variants`, `concurrency`, `resume`, `cache`,
    `base_urls`, `max_connections`, `default_model`, `executor` ... (see `RunOptions`).
    Works inside a running event loop (Jupyter) by running on a worker thread.
    """
    prepared = _options(protocol, scenarios, models, out, dict(options))
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _execute(prepared, console)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="debate-run") as pool:
        return pool.submit(_execute, prepared, console).result()


async def arun(
    protocol: str,
    scenarios: str = "truthfulqa-sample",
    models: Mapping[str, str] | str | None = None,
    *,
    out: str | Path | None = None,
    console: Console | None = None,
    **options: Any,
) -> Run:
    """`run` as an awaitable: `run = await debate.arun(...)` in a notebook cell."""
    prepared = _options(protocol, scenarios, models, out, dict(options))
    return await asyncio.to_thread(_execute, prepared, console)
