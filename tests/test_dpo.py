"""DPO on exported PBT data: input errors, no heavy imports at CLI start, and (slow) two
real TRL DPOTrainer steps on CPU on the embedded model from rows exported from a tree run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from test_pbt import capital, run_protocol, tree_script

from debate.errors import DebateInputError
from debate.pbt.dpo import load_preferences, model_path
from debate.pbt.evaluation import export_preferences


def test_pbt_modules_do_not_import_training_libraries() -> None:
    code = (
        "import sys, debate, debate.pbt.trees, debate.pbt.evaluation, debate.pbt.steps, "
        "debate.pbt.dpo, debate.cli, debate.pbt.commands\n"
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'datasets', 'peft') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_bad_preference_data_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DebateInputError, match="no such file"):
        load_preferences(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": [], "chosen": []}) + "\n")
    with pytest.raises(DebateInputError, match="missing column 'rejected'"):
        load_preferences(bad)
    with pytest.raises(DebateInputError, match="not a transformers checkpoint"):
        model_path(f"hf/{tmp_path}")


def test_preferences_load_by_split(tmp_path: Path) -> None:
    run_protocol("pbt-tree", tree_script, [capital("q1"), capital("q2")], tmp_path / "r")
    out = tmp_path / "prefs.jsonl"
    counts = export_preferences(tmp_path / "r", out, balanced=False)
    data = load_preferences(out)
    # 8 pairs by the paper's rule; one is left out: its chosen turn keeps the wrong answer
    assert sum(len(split) for split in data.values()) == counts["n_rows"] == 7
    for split in data.values():
        assert split.column_names[:3] == ["prompt", "chosen", "rejected"]


@pytest.mark.slow
def test_two_dpo_steps_on_the_embedded_model(tmp_path: Path) -> None:
    from debate.pbt.dpo import DPOOptions, train_dpo

    run_protocol("pbt-tree", tree_script, [capital("q1"), capital("q2")], tmp_path / "r")
    prefs = tmp_path / "prefs.jsonl"
    export_preferences(tmp_path / "r", prefs, balanced=False)
    rows = [json.loads(line) for line in prefs.read_text().splitlines()]
    for row in rows:  # everything in train, so both questions feed the two steps
        row["split"] = "train"
    prefs.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = train_dpo(
        DPOOptions(
            data=prefs, model="local", out=tmp_path / "dpo", max_steps=2, batch_size=1,
            max_length=192, eval_split=None,
        )
    )  # fmt: skip
    assert result["steps"] == 2 and result["device"] == "cpu"
    losses = [entry["loss"] for entry in result["log"]]
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)
    assert losses[0] == pytest.approx(math.log(2), abs=1e-3)  # policy == reference at step 1
    assert (tmp_path / "dpo" / "config.json").is_file()
    assert any((tmp_path / "dpo").glob("*.safetensors"))
