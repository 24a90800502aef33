"""Finished studio previews, kept in memory and on disk in the project folder, so a restart loses none.

The disk copy lives in `<project>/.impasto/previews/`: one `<key>.png` and one `<key>.json` (what the page shows
beside the picture) per preview, each written under a temporary name and renamed, so a killed studio leaves no
half-written preview. The key is a hash of everything that decides the pixels (`RenderQueue.key`), so a preview
found on disk is the one a render would make now. The folder is kept under `disk_bytes` by dropping the least
recently used files (by modification time; a disk hit touches its files). A folder that cannot be written
(read-only, full) leaves the studio working from memory alone; `disk_error` says why.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from impasto.files import atomic_write_bytes, atomic_write_text
from impasto.lru import LRU

CACHE_FOLDER = Path(".impasto") / "previews"  # inside the project folder (hidden: the studio lists no dot folders)
KEY = re.compile(r"^[0-9a-f]{24}$")  # what RenderQueue.key makes; anything else is never a file name here


@dataclass
class Preview:
    """A finished preview, as cached."""

    key: str
    png: bytes
    width: int
    height: int
    ratio: float
    seconds: float
    weights_origin: str
    device: str
    loss: float
    style_fraction: float
    iterations: int
    look: dict
    warning: str | None = None  # u lies where more u changes little at this preview's size


class PreviewCache:
    """Finished previews by key: the least recently used dropped from memory past `max_bytes`, and from `folder`
    (when given) past `disk_bytes`."""

    def __init__(self, max_bytes: int = 256 * 2**20, folder: Path | None = None, disk_bytes: int = 2 * 2**30) -> None:
        self.max_bytes = max_bytes
        self.folder = Path(folder) if folder is not None else None
        self.disk_bytes = disk_bytes
        self.disk_error: str | None = None
        self._lru: LRU[str, Preview] = LRU(size=sys.maxsize)  # bounded by bytes below, not by count
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Preview | None:
        with self._lock:
            hit = self._lru.get(key)
        if hit is not None or self.folder is None or not KEY.match(key):
            return hit
        item = self._read(key)
        if item is not None:
            self._remember(item)
        return item

    def put(self, item: Preview) -> None:
        self._remember(item)
        if self.folder is not None and KEY.match(item.key):
            self._write(item)

    def __len__(self) -> int:
        return len(self._lru)

    # ---------------------------------------------------------------------------------------- memory
    def _remember(self, item: Preview) -> None:
        with self._lock:
            old = self._lru.pop(item.key)
            if old is not None:
                self._bytes -= len(old.png)
            self._lru.put(item.key, item)
            self._bytes += len(item.png)
            while self._bytes > self.max_bytes and len(self._lru) > 1:
                dropped = self._lru.pop(next(iter(self._lru.items)))  # the least recently used
                self._bytes -= len(dropped.png)

    # ---------------------------------------------------------------------------------------- disk
    def _paths(self, key: str) -> tuple[Path, Path]:
        assert self.folder is not None
        return self.folder / f"{key}.png", self.folder / f"{key}.json"

    def _read(self, key: str) -> Preview | None:
        png_path, meta_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            png = png_path.read_bytes()
            item = Preview(png=png, **{**meta, "key": key})
        except (OSError, ValueError, TypeError):  # absent, half-copied by hand, or from another version
            return None
        if not png.startswith(b"\x89PNG\r\n\x1a\n"):
            return None
        for path in (png_path, meta_path):
            try:
                os.utime(path)  # recently used: pruned last
            except OSError:
                pass
        return item

    def _write(self, item: Preview) -> None:
        png_path, meta_path = self._paths(item.key)
        meta = {f.name: getattr(item, f.name) for f in dataclasses.fields(item) if f.name not in ("png", "key")}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(png_path, item.png)
            atomic_write_text(meta_path, json.dumps(meta, sort_keys=True))  # last: a preview exists once this does
        except Exception as exc:  # noqa: BLE001 - a cache that cannot be written must not fail the preview
            self.disk_error = f"Previews are kept in memory only: {self.folder} cannot be written ({exc})."
            return
        self._prune()

    def _prune(self) -> None:
        """Drop the least recently used previews (picture and record together) until the folder is under
        `disk_bytes`."""
        keys: dict[str, list] = {}  # key -> [last used, bytes, files]
        try:
            for path in self.folder.iterdir():
                if path.suffix in (".png", ".json") and KEY.match(path.stem):
                    st = path.stat()
                    entry = keys.setdefault(path.stem, [st.st_mtime, 0, []])
                    entry[0] = min(entry[0], st.st_mtime)
                    entry[1] += st.st_size
                    entry[2].append(path)
        except OSError:
            return
        total = sum(size for _, size, _ in keys.values())
        for _, size, paths in sorted(keys.values(), key=lambda e: e[0]):
            if total <= self.disk_bytes:
                break
            for path in paths:
                try:
                    path.unlink()
                except OSError:
                    pass
            total -= size
