"""Scenarios: the `Scenario` model and the loaders that turn data files into scenarios."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Scenario(BaseModel):
    """One question (or claim) a protocol is run on.

    `answers` are the candidate answers shown to agents, in presentation order;
    `correct_index` points into them (None when there is no gold answer, e.g. LOGICOM).
    `fields` carries format-specific values templates may use (topic, claim, reason,
    correct_answers, incorrect_answers, ...); `metadata` carries provenance and data
    kept for later use (e.g. the recorded human rounds of an NYU debate).
    """

    id: str
    question: str
    answers: list[str] = Field(default_factory=list)
    correct_index: int | None = None
    story: str | None = None
    source: str = "custom"
    fields: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def swapped(self) -> Scenario:
        """The same scenario with the two answers presented in reverse order."""
        if len(self.answers) != 2:
            return self
        correct = None if self.correct_index is None else 1 - self.correct_index
        return self.model_copy(update={"answers": self.answers[::-1], "correct_index": correct})
