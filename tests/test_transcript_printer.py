"""The transcript `debate run --show` (and `scripts/demo`) prints: quotes marked as
checked, and how the final verdict was read."""

from __future__ import annotations

from debate.live.printer import marked_quotes, verdict_line


def test_quotes_are_marked_verified_or_not() -> None:
    text = "He says <quote>the ship left</quote> and <quote>nobody came</quote>."
    shown = marked_quotes(text, (("the ship left", True), ("nobody came", False)))
    assert "[green]✓ “the ship left”[/]" in shown
    assert "[red]✗ “nobody came”[/]" in shown
    assert "<quote>" not in shown


def test_speech_markup_is_escaped() -> None:
    shown = marked_quotes("[bold]x[/bold] <quote>[red]y</quote>", (("[red]y", True),))
    assert shown.startswith("\\[bold]")
    assert "“\\[red]y”" in shown


def test_verdict_line_names_the_method_and_the_outcome() -> None:
    record = {
        "correct_index": 1,
        "final_verdict": {"method": "logprobs", "valid": True, "chosen": 0, "label_mass": 0.83},
    }
    assert verdict_line(record) == (
        "verdict read from logprobs (label mass 0.83): the judge chose A (wrong)"
    )
    record["final_verdict"]["calibration"] = {"method": "both-orders"}
    assert verdict_line(record) == (
        "verdict read from logprobs (label mass 0.83), averaged with the answers in reverse"
        " order: the judge chose A (wrong)"
    )
    invalid = {"correct_index": 0, "final_verdict": {"method": "none", "valid": False}}
    assert verdict_line(invalid).endswith("invalid, counted as wrong")
    assert verdict_line({"final_verdict": None}) == ""
