"""RFC 6570 URI templates, levels 1 and 2: expansion and the reverse match resources need.

Layer: services. Used by resource templates (`test://template/{id}/data`) and by the REST adapter
to put arguments into a tool's URL. Levels 1–2 are `{var}`, `{+var}` (reserved characters kept)
and `{#var}` (a fragment); level 3+ operators are refused when a template is stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, unquote

_EXPRESSION = re.compile(r"\{([+#]?)([A-Za-z0-9_.%]+(?:,[A-Za-z0-9_.%]+)*)\}")
_ANY_EXPRESSION = re.compile(r"\{[^}]*\}")
# Characters {+var} and {#var} leave as they are (RFC 6570 §1.5 reserved + unreserved).
_RESERVED_SAFE = ":/?#[]@!$&'()*+,;="


class UriTemplateError(ValueError):
    """The template uses syntax outside RFC 6570 levels 1–2."""


class UriTemplate:
    def __init__(self, template: str):
        self.template = template
        self.variables: list[str] = []
        pattern, position = [], 0
        for match in _ANY_EXPRESSION.finditer(template):
            expression = _EXPRESSION.fullmatch(match.group(0))
            if expression is None or "," in expression.group(2):
                raise UriTemplateError(f"unsupported expression {match.group(0)!r} (RFC 6570 levels 1-2 only)")
            operator, name = expression.groups()
            pattern.append(re.escape(template[position : match.start()]))
            if operator == "#":
                pattern.append("#")
            pattern.append(f"(?P<v{len(self.variables)}>{'[^/?#]+' if not operator else '.+'})")
            self.variables.append(name)
            position = match.end()
        pattern.append(re.escape(template[position:]))
        self._regex = re.compile("".join(pattern))

    @property
    def is_template(self) -> bool:
        return bool(self.variables)

    def match(self, uri: str) -> dict[str, str] | None:
        """The variables that expand this template into `uri`, or None when it cannot."""
        found = self._regex.fullmatch(uri)
        if found is None:
            return None
        return {name: unquote(found.group(f"v{i}")) for i, name in enumerate(self.variables)}

    def expand(self, values: Mapping[str, object]) -> str:
        def replace(match: re.Match) -> str:
            operator, name = match.groups()
            if name not in values or values[name] is None:
                return ""
            value = str(values[name])
            safe = _RESERVED_SAFE if operator else ""
            return ("#" if operator == "#" else "") + quote(value, safe=safe)

        return _EXPRESSION.sub(replace, self.template)
