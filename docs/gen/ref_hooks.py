"""The plugin hook reference, generated from `forge/hookspecs.py`: its module docstring, then every
hookspec under the section heading it sits below in that file (`# --- Lifecycle ---`), each with
its signature and the docstring's labelled parts.

Nothing is written by hand, so the page cannot fall behind the hookspecs; tests/test_docs.py checks
that every hookspec is on it under a real heading.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass

from ref_markdown import code, escape, fence_indented_code, table

LABELS = ("Parameters", "Returns", "Call semantics", "May be async", "Default plugin")
HEADING = re.compile(r"^# -+ (?P<title>.+?) -+$")
NO_SECTION = "Other hooks"


@dataclass(frozen=True)
class Hook:
    name: str
    section: str
    signature: str
    summary: str  # the docstring before its first label
    parts: dict[str, str]  # label -> text
    options: dict[str, bool]  # pluggy spec options that are set (firstresult, historic)


def hookspecs_module():
    from forge import hookspecs

    return hookspecs


def collect(module=None) -> list[Hook]:
    """Every hookspec of `module` (forge.hookspecs), in source order, with its section."""
    module = module or hookspecs_module()
    marker = f"{module.PROJECT}_spec"
    headings = [
        (number, found.group("title"))
        for number, line in enumerate(inspect.getsource(module).splitlines(), start=1)
        if (found := HEADING.match(line.strip()))
    ]
    hooks = []
    for name, function in vars(module).items():
        if not (callable(function) and hasattr(function, marker)):
            continue
        line = inspect.getsourcelines(function)[1]
        section = next((title for number, title in reversed(headings) if number < line), NO_SECTION)
        summary, parts = split_docstring(inspect.getdoc(function) or "")
        options = {key: True for key, value in getattr(function, marker).items() if value is True}
        hooks.append(Hook(name, section, f"{name}{inspect.signature(function)}", summary, parts, options))
    return sorted(hooks, key=lambda hook: inspect.getsourcelines(getattr(module, hook.name))[1])


def split_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The free text before the first label, and each label's text (joined onto one paragraph)."""
    label_line = re.compile(rf"^({'|'.join(map(re.escape, LABELS))}):\s*(.*)$")
    summary, parts, current = [], {}, None
    for line in doc.splitlines():
        found = label_line.match(line)
        if found:
            current = found.group(1)
            parts[current] = found.group(2)
        elif current is None:
            summary.append(line)
        else:
            parts[current] = f"{parts[current]} {line.strip()}".strip()
    return "\n".join(summary).strip(), parts


def render(module=None) -> str:
    module = module or hookspecs_module()
    hooks = collect(module)
    sections = list(dict.fromkeys(hook.section for hook in hooks))
    out = [
        "# Plugin hooks",
        "",
        "<!-- Generated from forge/hookspecs.py by docs/gen/ref_hooks.py; edit the hookspecs, not this page. -->",
        "",
        fence_indented_code(escape(introduction(module))),
        "",
        "## All hooks",
        "",
        table(
            ["hook", "section", "what it does"],
            [
                [f"[{code(h.name)}](#{h.name})", escape(h.section), escape(first_sentence(h.summary))]
                for h in hooks
            ],
        ),
        "",
    ]
    for section in sections:
        out += [f"## {section}", ""]
        for hook in (h for h in hooks if h.section == section):
            out += render_hook(hook)
    return "\n".join(out).rstrip() + "\n"


def introduction(module) -> str:
    """The module docstring, less its "Layer:" paragraph (a note for Forge's own developers)."""
    paragraphs = (inspect.getdoc(module) or "").split("\n\n")
    return "\n\n".join(p for p in paragraphs if not p.startswith("Layer:"))


def render_hook(hook: Hook) -> list[str]:
    lines = [
        f"### {hook.name} {{#{hook.name}}}",
        "",
        "```python",
        "@hookimpl",
        f"def {hook.signature}:",
        "    ...",
        "```",
        "",
    ]
    lines += [escape(hook.summary), ""]
    for label in LABELS:
        if label in hook.parts:
            lines.append(f"- **{label}:** {escape(hook.parts[label])}")
    if hook.options:
        lines.append(
            "- **pluggy options:** " + ", ".join(code(f"{key}=True") for key in sorted(hook.options))
        )
    return [*lines, ""]


def first_sentence(text: str) -> str:
    paragraph = " ".join(text.split("\n\n")[0].split())
    return paragraph.split(". ")[0].rstrip(".") + "."
