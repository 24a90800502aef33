"""The docs' generated reference pages, made from the code itself at every build (never copied by hand):

* the CLI reference, walked from the typer app (`impasto.cli:app`): every command and group, its help, and each
  argument and option as its `--help` shows it (click's own help records);
* the look-file and shot-file references, from the pydantic models' field types, defaults, bounds and
  descriptions (`Look`, `RegionSpec`, `LookFile`; `Shot` and its sections);
* the layer table that `tests/test_layers.py` checks, read from that file's `LAYERS`.

Only impasto's own dependencies are needed (typer, pydantic): `tests/test_docs.py` imports this file by path
without mkdocs, and `docs/hooks.py` hands its pages to mkdocs at build time.
"""

from __future__ import annotations

import ast
import enum
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------------------- markdown


def _escape(text: str) -> str:
    """Plain text safe inside a markdown table cell: no HTML, emphasis, links or cell breaks."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"([\\`*_\[\]|])", r"\\\1", text)
    return re.sub(r"\s+", " ", text)


def _code(text: str) -> str:
    """Inline code that survives a table cell (a `|` inside code still splits a cell in Python-Markdown)."""
    text = str(text)
    if "|" in text or "`" in text:
        return "<code>" + text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "&#124;") + "</code>"
    return f"`{text}`"


# --------------------------------------------------------------------------------------------------------- CLI


@dataclass
class ParamDoc:
    kind: str  # "argument" or "option"
    name: str  # the Python parameter name
    opts: list[str]  # every spelling: --output, -o, --no-flicker ...
    usage: str  # as --help shows it: "-o, --output <path>"
    help: str  # as --help shows it, with its default and [required]


@dataclass
class CommandDoc:
    path: list[str]  # ["impasto", "shot", "init"]
    help: str
    group: bool
    params: list[ParamDoc] = field(default_factory=list)
    subcommands: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def anchor(self) -> str:
        return "-".join(self.path)

    @property
    def options(self) -> list[str]:
        return [o for p in self.params if p.kind == "option" for o in p.opts]


def cli_app():
    """The click command behind `impasto` (typer's vendored click: walked by duck typing)."""
    import typer

    from impasto.cli import app

    return typer.main.get_command(app)


def walk_commands(command=None, path: list[str] | None = None, parent=None) -> Iterator[CommandDoc]:
    """Every command and group of the CLI, depth first in --help's order, with their visible parameters."""
    command = command if command is not None else cli_app()
    path = path or ["impasto"]
    ctx = command.context_class(command, info_name=path[-1], parent=parent)
    params = []
    for p in command.get_params(ctx):
        if getattr(p, "hidden", False):
            continue
        record = p.get_help_record(ctx)
        if record is None:
            continue
        kind = "option" if getattr(p, "param_type_name", "") == "option" else "argument"
        opts = [*p.opts, *p.secondary_opts] if kind == "option" else [p.name]
        params.append(ParamDoc(kind, p.name, opts, record[0], record[1]))
    group = hasattr(command, "list_commands")
    subs = [n for n in command.list_commands(ctx) if not command.get_command(ctx, n).hidden] if group else []
    yield CommandDoc(path, (command.help or "").strip(), group, params, subs)
    for name in subs:
        yield from walk_commands(command.get_command(ctx, name), [*path, name], ctx)


def _help_text(text: str) -> str:
    # typer's help: markdown-ish text where paragraphs are separated by blank lines; \b marks a verbatim block.
    return "\n\n".join(_prose(par) for par in re.split(r"\n\s*\n", text.replace("\b", "")) if par.strip())


def cli_markdown(commands: list[CommandDoc] | None = None) -> str:
    commands = commands if commands is not None else list(walk_commands())
    out = [
        "# Command line",
        "",
        "Generated from the typer app itself (`impasto.cli:app`) at every docs build: each command with the "
        "arguments and options its `--help` shows, their defaults and help.",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    for c in commands[1:]:
        first = c.help.split("\n\n")[0]
        out.append(f"| [{_escape(c.name)}](#{c.anchor}) | {_escape(first)} |")
    out.append("")
    for c in commands:
        level = "#" * min(len(c.path) + 1, 4)
        out += [f"{level} {c.name} {{ #{c.anchor} }}", ""]
        usage = c.name + (" [OPTIONS]" if any(p.kind == "option" for p in c.params) else "")
        usage += "".join(f" {p.name.upper()}" for p in c.params if p.kind == "argument")
        usage += " COMMAND [ARGS]..." if c.group else ""
        out += [f"```\n{usage}\n```", ""]
        if c.help:
            out += [_help_text(c.help), ""]
        if c.subcommands:
            out += ["Commands: " + ", ".join(f"[{_escape(s)}](#{c.anchor}-{s})" for s in c.subcommands) + ".", ""]
        for kind, title in (("argument", "Arguments"), ("option", "Options")):
            rows = [p for p in c.params if p.kind == kind]
            if not rows:
                continue
            out += [f"| {title.lower()[:-1]} | help |", "|---|---|"]
            out += [f"| {_code(p.usage)} | {_escape(p.help)} |" for p in rows]
            out.append("")
    return "\n".join(out) + "\n"


def reference_options(markdown: str) -> dict[str, list[str]]:
    """Command name -> the option spellings a generated CLI page lists for it (what tests/test_docs.py reads)."""
    found: dict[str, list[str]] = {}
    current = None
    for line in markdown.splitlines():
        m = re.match(r"#+ (impasto(?: [\w-]+)*) \{ #", line)
        if m:
            current = m.group(1)
            found[current] = []
            continue
        m = re.match(r"\| (?:`(-[^`]*)`|<code>(-.*?)</code>) \|", line)
        if m and current is not None:
            spelled = re.sub(r"&lt;.*?&gt;|<[^>]*>", "", (m.group(1) or m.group(2)).replace(" / ", ","))
            found[current] += [o.strip().split(" ")[0] for o in spelled.split(",") if o.strip().startswith("-")]
    return found


# ------------------------------------------------------------------------------------------------------ models


def type_name(annotation: Any) -> str:
    """A field's type as a reader of a TOML file sees it."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(_code(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        named = [type_name(a) for a in args if a is not type(None)]
        return " or ".join(named) + (" (optional)" if type(None) in args else "")
    if origin in (list, tuple):
        return f"list of {type_name(args[0])}" if args else "list"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return f"table ({annotation.__name__})"
        if issubclass(annotation, enum.Enum):
            return " \\| ".join(_code(m.value) for m in annotation)
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(annotation.__name__,
                                                                                             annotation.__name__)
    return _escape(str(annotation))


def _bounds(info) -> str:
    words = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "min_length": "at least", "max_length": "at most"}
    found = []
    for m in info.metadata:
        for attr, word in words.items():
            v = getattr(m, attr, None)
            if attr == "min_length" and v == 1:
                found.append("not empty")
            elif v is not None:
                found.append(f"{word} {v:g}" if isinstance(v, float) else f"{word} {v}")
    return ", ".join(found)


def _default(info) -> str:
    if info.default_factory is not None:
        value = info.default_factory()
        if isinstance(value, BaseModel):
            return "its defaults"
        return _code(repr(value).replace("'", '"'))
    if info.default is PydanticUndefined:
        return "**required**"
    if info.default is None:
        return "none"
    value = info.default
    if isinstance(value, bool):
        return _code(str(value).lower())
    if isinstance(value, str):
        return _code(f'"{value}"')
    return _code(repr(value) if isinstance(value, float) else str(value))


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds when it is a table or an array of tables, else None."""
    candidates = [annotation, *typing.get_args(annotation)]
    for a in candidates:
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None


def model_fields(model: type[BaseModel]) -> Iterator[tuple[str, Any]]:
    yield from model.model_fields.items()


def missing_descriptions(models: list[type[BaseModel]]) -> list[str]:
    """`Model.field` for every field of these models without a description (a nested table is documented by its
    own model's fields and docstring, so a field holding one needs none)."""
    missing = []
    for model in models:
        for name, info in model.model_fields.items():
            if _section_model(info.annotation) is not None and typing.get_origin(info.annotation) is not list:
                continue
            if not (info.description or "").strip():
                missing.append(f"{model.__name__}.{name}")
    return missing


def fields_table(model: type[BaseModel], *, skip: tuple[str, ...] = (), links: dict[str, str] | None = None) -> str:
    links = links or {}
    rows = ["| field | type | default | what it is |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        typ = type_name(info.annotation)
        if name in links:
            typ = f"[{typ}]({links[name]})"
        bounds = _bounds(info)
        if bounds:
            typ += f", {_escape(bounds)}"
        what = _escape(info.description or "")
        if not what and name in links and _section_model(info.annotation) is not None:
            what = f"the [{_escape(name)}]({links[name]}) table"
        rows.append(f"| {_code(name)} | {typ} | {_default(info)} | {what} |")
    return "\n".join(rows) + "\n"


def _doc(model: type[BaseModel]) -> str:
    text = (model.__doc__ or "").strip()
    if not text or text.startswith(f"{model.__name__}(") or model.__doc__ == BaseModel.__doc__:
        return ""
    return _help_text(text) + "\n\n"


def look_file_markdown() -> str:
    from impasto.look import Look, LookFile, RegionSpec

    return "".join([
        "# Look file\n\n",
        "A look file (`impasto look save`, or the `<output>.look.toml` every command writes beside its output) is "
        "TOML. This page is generated from the pydantic models that read it (`impasto.look`), so it lists every "
        "field they accept: unknown keys or wrong types stop with one sentence. Relative paths are relative to "
        "the look file's folder.\n\n",
        "```toml\nschema_version = 1\ncontent = \"frame.png\"\nstyles = [\"painting.jpg\"]\n\n[look]\nu = 3.5\n"
        "seed = 7\n\n[[look.regions]]\nname = \"fg\"\nmatte = \"mattes/fg.####.exr\"\nu = 2.0\nfeather = 8\n```\n\n",
        "## Top level { #top-level }\n\n", _doc(LookFile),
        fields_table(LookFile, links={"look": "#look"}), "\n",
        "## [look] { #look }\n\n", _doc(Look),
        "On the command line a field is an option with dashes: `style_weights` is `--style-weights`.\n\n",
        fields_table(Look, links={"regions": "#look-regions"}), "\n",
        "## [[look.regions]] { #look-regions }\n\n", _doc(RegionSpec), fields_table(RegionSpec),
    ])


def shot_sections():
    from impasto.shot.config import Shot

    out = []
    for name, info in Shot.model_fields.items():
        model = _section_model(info.annotation)
        if model is not None and name not in ("look", "regions"):
            out.append((name, model))
    return out


def shot_file_markdown() -> str:
    from impasto.look import RegionSpec
    from impasto.shot.config import Shot

    sections = shot_sections()
    links = {name: f"#{name}" for name, _ in sections}
    links |= {"look": "look-file.md#look", "regions": "#regions"}
    parts = [
        "# Shot file\n\n",
        "A shot file (`impasto shot init`) is TOML. This page is generated from the pydantic models that read it "
        "(`impasto.shot.config`): every field they accept, its type, default and meaning. Relative paths are "
        "relative to the shot file's folder, so a shot renders the same from anywhere.\n\n",
        "```toml\nname = \"cs010\"\nplate = \"plates/cs010_plate.####.exr\"\nframes = \"1001-1100\"\n"
        "look_file = \"my_look.toml\"\n\n[render]\nscale = 0.5\n\n[temporal]\nboil = 1.0\n\n"
        "[output]\nversion = 1\n```\n\n",
        "## Top level { #top-level }\n\n", _doc(Shot), fields_table(Shot, links=links), "\n",
        "An inline `[look]` table takes the fields of a look file's [`[look]`](look-file.md#look).\n\n",
    ]
    for name, model in sections:
        parts += [f"## [{name}] {{ #{name} }}\n\n", _doc(model), fields_table(model), "\n"]
    parts += ["## [[regions]] { #regions }\n\n",
              "Regions added by the shot, after the look's own; the fields of a look's "
              "[`[[look.regions]]`](look-file.md#look-regions):\n\n", fields_table(RegionSpec)]
    return "".join(parts)


def documented_models() -> list[type[BaseModel]]:
    """The models whose fields the look-file and shot-file pages document."""
    from impasto.look import Look, LookFile, RegionSpec
    from impasto.shot.config import Shot

    return [LookFile, Look, RegionSpec, Shot, *(m for _, m in shot_sections())]


# ------------------------------------------------------------------------------------------------------ layers


def layers(path: Path = ROOT / "tests" / "test_layers.py") -> list[tuple[str, ...]]:
    """`LAYERS` from tests/test_layers.py, read without running the test module."""
    for node in ast.parse(path.read_text()).body:
        target = node.target if isinstance(node, ast.AnnAssign) else (node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id == "LAYERS":
            return [tuple(t) for t in ast.literal_eval(node.value)]
    raise LookupError(f"no LAYERS in {path}")


def layers_markdown() -> str:
    rows = ["| rank | modules (a module may import from its own row and the rows above) |", "|---|---|"]
    for rank, mods in enumerate(layers()):
        rows.append(f"| {rank} | {', '.join(_code(m) for m in mods)} |")
    return "\n".join(rows) + "\n"


def _prose(text: str) -> str:
    """Docstring text for a table cell: its `code` spans kept, the rest escaped."""
    parts = re.split(r"(`[^`]*`)", " ".join(text.split()))
    return "".join(p if p.startswith("`") and p.endswith("`") and len(p) > 1 else _escape(p) for p in parts)


def module_summary(path: Path) -> str:
    """The first paragraph of a module's docstring."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return doc.split("\n\n")[0]


def modules_markdown(package: Path = ROOT / "impasto") -> str:
    """Every module of the package under its layer (the first layer whose prefix is the longest match, as
    tests/test_layers.py decides), with the first paragraph of its docstring."""
    table = layers()
    rows = ["| layer | module | what it holds (its docstring) |", "|---|---|---|"]
    placed: dict[int, list[tuple[str, str]]] = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        best = None
        for rank, prefixes in enumerate(table):
            for prefix in prefixes:
                if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                    best = (rank, len(prefix))
        summary = module_summary(path)
        if best is not None and summary:
            placed.setdefault(best[0], []).append((str(path.relative_to(package.parent)), summary))
    for rank in sorted(placed):
        for i, (name, summary) in enumerate(placed[rank]):
            rows.append(f"| {rank if i == 0 else ''} | `{name}` | {_prose(summary)} |")
    return "\n".join(rows) + "\n"


# ------------------------------------------------------------------------------------------------------- pages


def pages() -> dict[str, str]:
    """Generated page path (under docs/) -> markdown."""
    return {
        "reference/cli.md": cli_markdown(),
        "reference/look-file.md": look_file_markdown(),
        "reference/shot-file.md": shot_file_markdown(),
    }


if __name__ == "__main__":  # python docs/gen_reference.py OUTDIR: write the pages, to read them without mkdocs
    import sys

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "site-reference")
    for rel, text in pages().items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
        print(out / rel)
