"""What a doctor check reports: one line, a verdict, and the command that fixes it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Verdict = Literal["ok", "warn", "fail"]
MARKS: dict[Verdict, str] = {"ok": "✓", "warn": "!", "fail": "✗"}


@dataclass(frozen=True)
class Finding:
    """One checked fact: `check` names the area, `text` is one line, `fix` an exact command."""

    check: str
    verdict: Verdict
    text: str
    fix: str = ""

    @property
    def mark(self) -> str:
        """✓, ! or ✗."""
        return MARKS[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        """The finding as `-o json` prints it."""
        return asdict(self)


def ok(check: str, text: str) -> Finding:
    """A passing check."""
    return Finding(check, "ok", text)


def fail(check: str, text: str, fix: str) -> Finding:
    """A failing check and the command that fixes it."""
    return Finding(check, "fail", text, fix)


def warn(check: str, text: str, fix: str = "") -> Finding:
    """Something that does not stop a run but deserves a look."""
    return Finding(check, "warn", text, fix)


def lines(findings: list[Finding]) -> list[str]:
    """Plain text: one line per finding, its fix indented under it."""
    out = []
    for f in findings:
        out.append(f"{f.mark} {f.text}")
        if f.fix and f.verdict != "ok":
            out.append(f"    fix: {f.fix}")
    return out


def healthy(findings: list[Finding]) -> bool:
    """No ✗ (warnings do not fail the doctor)."""
    return all(f.verdict != "fail" for f in findings)


def summary(findings: list[Finding]) -> str:
    """The last line of a report."""
    failed = sum(1 for f in findings if f.verdict == "fail")
    return "All checks passed." if not failed else f"{failed} check(s) failed."
