"""Where a TRL trainer reports its logs: `--report-to none|tensorboard|wandb|trackio`.

`debate train dpo` and `debate train grpo` pass the choice to their config's
`report_to`. Each integration needs its package; a missing one is an input error named
before training starts. TensorBoard event files go to a folder the command names
(`point_tensorboard`), not transformers' default `<output_dir>/runs/<date>_<host>`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from debate.errors import DebateInputError

REPORT_TO = ("none", "tensorboard", "wandb", "trackio")


def check_report_to(choice: str) -> str:
    """`choice` if it is known and its package is installed, else an input error."""
    if choice not in REPORT_TO:
        raise DebateInputError(f"--report-to: '{choice}': expected one of {', '.join(REPORT_TO)}")
    if choice != "none" and importlib.util.find_spec(choice) is None:
        extra = " (or pip install 'debate-lab[train]')" if choice == "tensorboard" else ""
        raise DebateInputError(
            f"--report-to {choice}: the '{choice}' package is not installed: "
            f"pip install {choice}{extra}"
        )
    return choice


def point_tensorboard(trainer: Any, directory: Path) -> None:
    """Make the trainer's TensorBoard callback (if any) write its event files to `directory`."""
    for callback in trainer.callback_handler.callbacks:
        if type(callback).__name__ == "TensorBoardCallback":
            callback.logging_dir = str(directory)
