"""DPO on exported PBT preference data with TRL's `DPOTrainer` (the `train` extra).

`train_dpo(DPOOptions(...))` loads preference rows (a `prefs.jsonl` written by
`debate export prefs`, or a `DatasetDict` folder from `--format hf`), keeps the
conversational `prompt` / `chosen` / `rejected` columns, and trains the model a model
string names: `local` is the embedded SmolLM2 checkpoint
(`debate.models.embedded.embedded_checkpoint_dir()`), `hf/<path>` or a plain path is a
transformers checkpoint on disk. LoRA goes through peft. It runs on CPU (fp32) for
smoke tests and on a GPU (bf16 where supported) when one is present. The trained model
and tokenizer are saved to `out`, loadable again as `hf/<out>`.

Nothing here is imported by `import debate`; torch, TRL, datasets and peft load only
when training starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from debate.errors import DebateInputError

COLUMNS = ("prompt", "chosen", "rejected")


@dataclass
class DPOOptions:
    data: Path
    model: str = "local"
    out: Path = Path("runs/dpo")
    lora: bool = False
    max_steps: int = -1
    epochs: float = 1.0
    learning_rate: float = 5e-6
    beta: float = 0.1
    batch_size: int = 2
    grad_accum: int = 1
    max_length: int = 1024
    split: str = "train"
    eval_split: str | None = "validation"
    seed: int = 0
    lora_r: int = 16
    lora_alpha: int = 32
    report_to: str = "none"


def model_path(model: str) -> Path:
    """The checkpoint folder a model string names (`local`, `hf/<path>` or a path)."""
    if model == "local":
        from debate.models.embedded import embedded_checkpoint_dir

        return embedded_checkpoint_dir()
    path = Path(model.removeprefix("hf/")).expanduser()
    if not (path / "config.json").is_file():
        raise DebateInputError(
            f"--model: {model}: not a transformers checkpoint (no config.json); "
            "use 'local', 'hf/<path>' or a checkpoint folder"
        )
    return path


def load_preferences(data: Path) -> Any:
    """A `datasets.DatasetDict` of preference rows, split by their `split` column."""
    from datasets import Dataset, DatasetDict, load_from_disk

    if data.is_dir():
        try:
            loaded = load_from_disk(str(data))
        except (FileNotFoundError, ValueError) as exc:
            raise DebateInputError(f"--data: {data}: not a saved datasets folder ({exc})") from exc
        return loaded if isinstance(loaded, DatasetDict) else DatasetDict({"train": loaded})
    if not data.is_file():
        raise DebateInputError(f"--data: {data}: no such file")
    from debate.core.store import read_jsonl

    rows = list(read_jsonl(data))
    if not rows:
        raise DebateInputError(f"--data: {data}: no preference rows")
    missing = [c for c in COLUMNS if c not in rows[0]]
    if missing:
        raise DebateInputError(f"--data: {data}: line 1: missing column '{missing[0]}'")
    splits: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        splits.setdefault(str(row.get("split") or "train"), []).append(row)
    return DatasetDict({name: Dataset.from_list(items) for name, items in splits.items()})


def _preference_columns(dataset: Any) -> Any:
    return dataset.select_columns(list(COLUMNS))


def train_dpo(options: DPOOptions) -> dict[str, Any]:
    """Train with DPO; returns the final training metrics and where the model went."""
    from debate.models.training_logs import check_report_to, point_tensorboard

    check_report_to(options.report_to)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    splits = load_preferences(options.data)
    if options.split not in splits or len(splits[options.split]) == 0:
        have = ", ".join(f"{k} ({len(v)})" for k, v in splits.items())
        raise DebateInputError(
            f"--data: {options.data}: no '{options.split}' rows (have {have}); export again "
            "with --no-balanced or other --split fractions, or from more questions"
        )
    train = _preference_columns(splits[options.split])
    evaluation = None
    if options.eval_split and len(splits.get(options.eval_split, [])) > 0:
        evaluation = _preference_columns(splits[options.eval_split])

    path = model_path(options.model)
    cuda = torch.cuda.is_available()
    bf16 = bool(cuda and torch.cuda.is_bf16_supported())
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        from debate.models.embedded import CHATML_TEMPLATE

        tokenizer.chat_template = CHATML_TEMPLATE
    model = AutoModelForCausalLM.from_pretrained(
        path, local_files_only=True, dtype=torch.bfloat16 if bf16 else torch.float32
    )
    peft_config = None
    if options.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=options.lora_r,
            lora_alpha=options.lora_alpha,
            lora_dropout=0.0,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )
    config = DPOConfig(
        output_dir=str(options.out),
        max_steps=options.max_steps,
        num_train_epochs=options.epochs,
        learning_rate=options.learning_rate,
        beta=options.beta,
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=options.batch_size,
        gradient_accumulation_steps=options.grad_accum,
        max_length=options.max_length,
        bf16=bf16,
        use_cpu=not cuda,
        gradient_checkpointing=cuda,
        logging_steps=1,
        save_strategy="no",
        eval_strategy="no",
        report_to=options.report_to,
        seed=options.seed,
        dataloader_num_workers=0,
    )
    trainer = DPOTrainer(
        model=model,
        args=config,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    point_tensorboard(trainer, options.out / "tensorboard")
    result = trainer.train()
    metrics: dict[str, Any] = dict(result.metrics)
    if evaluation is not None:
        metrics.update(trainer.evaluate())
    trainer.save_model(str(options.out))
    tokenizer.save_pretrained(str(options.out))
    history = [entry for entry in trainer.state.log_history if "loss" in entry]
    return {
        "out": str(options.out),
        "model": str(path),
        "steps": trainer.state.global_step,
        "train_rows": len(train),
        "eval_rows": len(evaluation) if evaluation is not None else 0,
        "lora": options.lora,
        "device": "cuda" if cuda else "cpu",
        "metrics": metrics,
        "log": history,
    }
