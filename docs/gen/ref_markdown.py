"""Small Markdown helpers shared by the reference page generators.

Text from docstrings and descriptions is Markdown already (backticks for code); what must not pass
through raw is `<` and `>` outside code spans (Python-Markdown would take `<id>` for an HTML tag)
and, inside table cells, `|` and line breaks.
"""

from __future__ import annotations

import re

CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)


def escape(text: str) -> str:
    """`text` with < > & outside code spans turned into entities."""
    parts, position = [], 0
    for match in CODE_SPAN.finditer(text):
        parts.append(_entities(text[position : match.start()]))
        parts.append(match.group())
        position = match.end()
    parts.append(_entities(text[position:]))
    return "".join(parts)


def _entities(text: str) -> str:
    return re.sub(r"&(?![A-Za-z#][A-Za-z0-9]*;)", "&amp;", text).replace("<", "&lt;").replace(">", "&gt;")


def cell(text: str) -> str:
    """One table cell: escaped, on one line, with pipes escaped."""
    return escape(" ".join(str(text).split())).replace("|", "\\|") or " "


def code(text: str) -> str:
    """`text` as an inline code span, whatever backticks it holds."""
    text = str(text)
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fence_indented_code(text: str, language: str = "python") -> str:
    """Docstrings show code as indented blocks; make them fenced blocks the site can highlight."""
    lines, out, index = text.splitlines(), [], 0
    while index < len(lines):
        line = lines[index]
        previous_blank = not out or not out[-1].strip()
        if line.startswith("    ") and previous_blank:
            block = []
            while index < len(lines) and (lines[index].startswith("    ") or not lines[index].strip()):
                block.append(lines[index][4:])
                index += 1
            while block and not block[-1].strip():
                block.pop()
            out += [f"```{language}", *block, "```", ""]
            continue
        out.append(line)
        index += 1
    return "\n".join(out)
