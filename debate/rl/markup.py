"""Question and answer text out of what a trainer sends: chat-template markup removed.

OpenRLHF posts each sample as `prompts` (the dataset prompt after the policy's chat
template, e.g. `<|im_start|>user\\nQ<|im_end|>\\n<|im_start|>assistant\\n`) and `query`
(prompt and response token ids decoded with the special tokens kept, so the response
ends in `<|im_end|>` or another end-of-sequence token). A debate needs the bare
question and the bare answer.

- The answer is the query with its prompt cut off, then cleaned of special tokens.
- The question is the content of the prompt's last user turn, found by the markers of
  the common chat templates (ChatML, Llama 3, Gemma, Mistral, Phi, DeepSeek, Zephyr,
  `User: ... Assistant:`), then cleaned; a prompt with none of them is cleaned whole.
- Cleaning: with a tokenizer, the text is encoded and decoded again with its special
  tokens skipped, so exactly that tokenizer's special tokens go; without one, tokens of
  the common special-token shapes (`<|...|>`, `<｜...｜>`, `<s>`, `</s>`, `<eos>`,
  `<bos>`, `<pad>`, `<start_of_turn>`, `<end_of_turn>`) are removed.

A question carried by the label is preferred to any of this (see `debate.rl.server`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from debate.errors import DebateInputError

# the last user turn's content, per template family (DOTALL; the last match is used)
USER_TURNS = (
    re.compile(r"<\|im_start\|>user\s*\n(.*?)<\|im_end\|>", re.DOTALL),
    re.compile(r"<\|start_header_id\|>user<\|end_header_id\|>\s*(.*?)<\|eot_id\|>", re.DOTALL),
    re.compile(r"<start_of_turn>user\s*\n(.*?)<end_of_turn>", re.DOTALL),
    re.compile(r"\[INST\](.*?)\[/INST\]", re.DOTALL),
    re.compile(r"<\|user\|>\s*(.*?)(?:<\|end\|>|</s>)", re.DOTALL),
    re.compile(r"<｜User｜>(.*?)<｜Assistant｜>", re.DOTALL),
    re.compile(r"\A\s*(?:User|Human):\s*(.*?)\n+(?:Assistant|AI):\s*\Z", re.DOTALL),
)
# where the response starts when the query does not begin with the prompt as sent
ASSISTANT_STARTS = (
    re.compile(r"<\|im_start\|>assistant\s*\n"),
    re.compile(r"<\|start_header_id\|>assistant<\|end_header_id\|>\s*"),
    re.compile(r"<start_of_turn>model\s*\n"),
    re.compile(r"\[/INST\]"),
    re.compile(r"<\|assistant\|>\s*"),
    re.compile(r"<｜Assistant｜>"),
)
SPECIAL_TOKEN = re.compile(
    r"<\|[^|<>\s]{1,64}\|>|<｜[^｜<>]{1,64}｜>|</?s>|<(?:eos|bos|pad|unk)>"
    r"|<(?:start|end)_of_turn>"
)
LLAMA2_SYSTEM = re.compile(r"<<SYS>>.*?<</SYS>>", re.DOTALL)


class TextCleaner:
    """Strips chat-template markup and special tokens; `tokenizer` is a transformers one."""

    def __init__(self, tokenizer: Any = None) -> None:
        self.tokenizer = tokenizer

    @classmethod
    def load(cls, path: str | Path | None) -> TextCleaner:
        """A cleaner using the tokenizer saved at `path` (None: the built-in token shapes)."""
        if path is None:
            return cls()
        try:
            from transformers import AutoTokenizer
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise DebateInputError(
                f"--tokenizer: needs transformers ({exc.name}): pip install 'debate-lab[local]'"
            ) from exc
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise DebateInputError(f"--tokenizer: {path}: not a tokenizer folder ({exc})") from exc
        return cls(tokenizer)

    def strip(self, text: str) -> str:
        """`text` without special tokens, surrounding whitespace removed."""
        if self.tokenizer is None:
            return SPECIAL_TOKEN.sub("", text).strip()
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        return str(self.tokenizer.decode(ids, skip_special_tokens=True)).strip()

    def question(self, prompt: str) -> str:
        """The content of the prompt's last user turn (the whole prompt without markup)."""
        for pattern in USER_TURNS:
            turns = pattern.findall(prompt)
            if turns:
                return self.strip(LLAMA2_SYSTEM.sub("", turns[-1]))
        return self.strip(prompt)

    def response(self, query: str, prompt: str) -> str:
        """The policy's response: the query after its prompt, without special tokens."""
        if prompt and query.startswith(prompt):
            return self.strip(query[len(prompt) :])
        starts = [match.end() for p in ASSISTANT_STARTS for match in p.finditer(query)]
        if starts:
            return self.strip(query[max(starts) :])
        cleaned_query, cleaned_prompt = self.strip(query), self.strip(prompt)
        if cleaned_prompt and cleaned_query.startswith(cleaned_prompt):
            return cleaned_query[len(cleaned_prompt) :].strip()
        return cleaned_query
