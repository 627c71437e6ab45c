"""The system prompt: base prompt + skills from `/skills` + memory + tool usage notes."""

from __future__ import annotations

from pathlib import Path

from k8sclaw_sidecar._settings import PodPaths

BASE_PROMPT = "You are a helpful assistant running as a K8sClaw agent."
MEMORY_FILE = "MEMORY.md"
MEMORY_CAP = 32_000


def load_skills(skills: Path) -> list[tuple[str, str]]:
    """(name, text) of each visible skill file; ConfigMap internals (`..data`) skipped."""
    if not skills.is_dir():
        return []
    found = []
    for path in sorted(skills.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        found.append((path.stem, path.read_text(errors="replace")))
    return found


def build_system_prompt(
    base: str, paths: PodPaths, tools: list[str], asked: frozenset[str] = frozenset()
) -> str:
    sections = [base.strip() or BASE_PROMPT]
    skills = load_skills(paths.skills)
    if skills:
        body = "\n\n---\n\n".join(f"### {name}\n{text.strip()}" for name, text in skills)
        sections.append("## Your Skills\n\n" + body)
    memory = paths.memory / MEMORY_FILE
    if memory.is_file():
        text = memory.read_text(errors="replace")[:MEMORY_CAP].strip()
        if text:
            sections.append("## Memory\n\n" + text)
    if tools:
        sections.append(
            "## Tool Usage\n\nYou can call these tools: "
            + ", ".join(tools)
            + ". Files live under /workspace (relative paths too) and /tmp; "
            "execute_command runs in the sandbox with /workspace as its directory."
        )
    gated = [tool for tool in tools if tool in asked]
    if gated:
        sections.append(
            "Each call to "
            + ", ".join(gated)
            + " waits for a person's approval; a refused call did not run: do not retry it "
            "unchanged, explain or find another way."
        )
    return "\n\n".join(sections)
