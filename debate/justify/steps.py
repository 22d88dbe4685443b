"""The `reveal` step: a debate over evidence instead of free text.

```yaml
rounds:
  - reveal: [arguer_a, arguer_b]    # two agent roles, defending answers via `defends`
    count: 6                        # features revealed in all, no repeats
    first: random                   # random | first | second
    arguers: {arguer_b: minimax}    # greedy (default) | minimax | random | learned | model
    verdict_role: judge             # record the proxy judge's verdict under this role
    judge_file: path/to/proxy.pt    # optional; else the scenario's `judge_file` field
```
Each move is a message `"<feature> = <value>"`; scenarios carry `features`,
`action_names` and the two action names as `answers` (see `debate.justify.bridge`).
torch is imported only when the step runs.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from debate.core.context import UnitContext
from debate.core.declarations import ProtocolSpec
from debate.core.steps import Step

ArguerKind = Literal["greedy", "minimax", "random", "learned", "model"]


class Reveal(Step):
    """Two roles alternate revealing case features; a judge proxy decides on them."""

    key: ClassVar[str] = "reveal"
    reveal: list[str]
    count: int = Field(default=6, ge=1)
    first: Literal["random", "first", "second"] = "random"
    arguers: dict[str, ArguerKind] = Field(default_factory=dict)
    verdict_role: str | None = None
    judge_file: str | None = None

    def check(self, protocol: ProtocolSpec) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if len(self.reveal) != 2 or len(set(self.reveal)) != 2:
            problems.append(("reveal", "needs exactly two different roles"))
        for name in self.reveal:
            role = protocol.roles.get(name)
            if role is None:
                problems.append(("reveal", f"unknown role '{name}'"))
            elif role.agent is None:
                problems.append(("reveal", f"role '{name}' is not an agent"))
            elif role.defends not in (0, 1):
                problems.append(("reveal", f"role '{name}' needs 'defends: 0' or 'defends: 1'"))
        for name in self.arguers:
            if name not in self.reveal:
                problems.append(("arguers", f"role '{name}' does not reveal"))
        if self.verdict_role is not None:
            judge = protocol.roles.get(self.verdict_role)
            if judge is None or judge.judge is None:
                problems.append(("verdict_role", f"'{self.verdict_role}' is not a judge role"))
            elif protocol.verdict is not None:
                problems.append(("verdict_role", "set the protocol's 'verdict' to null"))
        return problems

    def rounds(self) -> int:
        return self.count

    async def run(self, ctx: UnitContext) -> None:
        from debate.justify.bridge import play_reveal

        await play_reveal(
            ctx,
            self.reveal,
            self.count,
            dict(self.arguers),
            self.first,
            self.judge_file,
            self.verdict_role,
        )
