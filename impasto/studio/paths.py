"""Safe paths: every file the studio reads or writes resolves inside the project folder, or is refused."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".dpx", ".bmp", ".tga", ".webp", ".hdr"}
UPLOAD_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr"}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,120}$")
_DRIVE = re.compile(r"^[A-Za-z]:")


class PathRefused(Exception):
    """A path the studio will not touch; `status` is the HTTP status to answer with (400, 403 or 404)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _decoded_forms(text: str) -> list[str]:
    """The text and what it becomes after repeated URL-decoding (a double-encoded '..' is still '..')."""
    forms = [text]
    for _ in range(3):
        nxt = unquote(forms[-1])
        if nxt == forms[-1]:
            break
        forms.append(nxt)
    return forms


def resolve_inside(root: Path, relative: str, *, must_exist: bool = True, kind: str = "file") -> Path:
    """`relative` (a path relative to `root`, '/' separated) as an absolute path inside `root`.

    Refused with 400: empty, NUL bytes, absolute or drive paths, backslashes, '..' parts (also URL-encoded).
    Refused with 403: anything that resolves outside `root`, e.g. through a symlink. 404 when it must exist and
    does not, or is not the kind asked for ('file', 'dir' or 'any').
    """
    if not isinstance(relative, str) or not relative.strip():
        raise PathRefused("Give a path relative to the project folder.")
    for form in _decoded_forms(relative):
        if "\x00" in form:
            raise PathRefused("Paths may not contain NUL bytes.")
        if "\\" in form:
            raise PathRefused("Use '/' in paths, not backslashes.")
        if form.startswith(("/", "~")) or _DRIVE.match(form):
            raise PathRefused(f"'{relative}' is absolute; give a path relative to the project folder.")
        if any(part == ".." for part in form.split("/")):
            raise PathRefused(f"'{relative}' leaves the project folder ('..' is not allowed).")
    base = root.resolve()
    target = (base / relative).resolve()
    if target != base and not target.is_relative_to(base):
        raise PathRefused(f"'{relative}' resolves outside the project folder.", 403)
    if must_exist:
        if not target.exists():
            raise PathRefused(f"'{relative}' does not exist in the project folder.", 404)
        if kind == "file" and not target.is_file():
            raise PathRefused(f"'{relative}' is not a file.", 404)
        if kind == "dir" and not target.is_dir():
            raise PathRefused(f"'{relative}' is not a folder.", 404)
    return target


def relative_name(root: Path, path: Path) -> str:
    """`path` (inside `root`) as the '/' separated relative name the page uses."""
    return path.resolve().relative_to(root.resolve()).as_posix()


def safe_file_name(name: str, extensions: set[str]) -> str:
    """A plain file name (no folders) with one of `extensions`; PathRefused(400) otherwise."""
    name = (name or "").strip()
    if "/" in name or "\\" in name or not _SAFE_NAME.match(name) or name.startswith("."):
        raise PathRefused(
            "A file name is letters, digits, spaces, '_', '-' and '.', without folders, like painting.jpg."
        )
    ext = os.path.splitext(name)[1].lower()
    if ext not in extensions:
        raise PathRefused(f"'{name}' must end in one of {', '.join(sorted(extensions))}.")
    return name
