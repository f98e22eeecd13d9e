"""MkDocs hook: the reference pages are generated during every build, never committed.

Named in mkdocs.yml (`hooks:`). `on_files` adds three generated pages and the OpenAPI document to
the site before the navigation is built, so `mkdocs build --strict` checks their links like any
other page's. Generation is deterministic: the same code and installed plugins give the same bytes.

    python docs/gen/mkdocs_hooks.py OUT_DIR    # write the generated files to OUT_DIR to read them
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the ref_* generators beside this file

import ref_api
import ref_hooks
import ref_settings


def generated_files() -> dict[str, str]:
    """Site path -> content of every generated file."""
    document = ref_api.openapi_document()
    return {
        "reference/settings.md": ref_settings.render(),
        "reference/hooks.md": ref_hooks.render(),
        "reference/api.md": ref_api.render(document),
        "reference/openapi.json": ref_api.document_json(document),
    }


def on_files(files, config):
    from mkdocs.structure.files import File

    for path, content in generated_files().items():
        files.append(File.generated(config, path, content=content))
    return files


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "generated-docs")
    for path, content in generated_files().items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        print(target)
