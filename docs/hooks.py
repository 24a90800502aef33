"""mkdocs hooks (mkdocs.yml `hooks:`): the generated reference pages and the pages made from files outside docs/.

* `reference/cli.md`, `reference/look-file.md`, `reference/shot-file.md`: from docs/gen_reference.py, made from the
  typer app and the pydantic models at every build, so they cannot drift from the code;
* `bench-results.md`: bench/results/README.md (the benchmark figures, kept beside the JSON files they come from);
* `<!-- layers -->` in a page: the layer table that tests/test_layers.py checks; `<!-- modules -->`: every module
  of impasto under its layer, with the first paragraph of its docstring.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from mkdocs.structure.files import File

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent


def _generator():
    spec = importlib.util.spec_from_file_location("impasto_docs_gen_reference", DOCS / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_GEN = _generator()


def on_files(files, config):
    pages = dict(_GEN.pages())
    pages["bench-results.md"] = (ROOT / "bench" / "results" / "README.md").read_text()
    for rel, text in pages.items():
        files.append(File.generated(config, rel, content=text))
    return files


def on_page_markdown(markdown, page, config, files):
    if "<!-- layers -->" in markdown:
        markdown = markdown.replace("<!-- layers -->", _GEN.layers_markdown())
    if "<!-- modules -->" in markdown:
        markdown = markdown.replace("<!-- modules -->", _GEN.modules_markdown())
    return markdown
