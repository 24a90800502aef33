"""What every route shares: the project folder, the preview queue and the caches, handed out by `state`.

Every path a request names goes through `StudioState.inside` (or one of the checks built on it), so nothing the
studio reads or writes lies outside the project folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from impasto.errors import UsageError
from impasto.fast.hooks import FastPreviewer
from impasto.fast.learn import LearnSettings
from impasto.io.mattes import is_pattern, matte_path
from impasto.io.sequence import single_frame_file
from impasto.look import Look, RegionSpec
from impasto.studio.cache import CACHE_FOLDER
from impasto.studio.jobs import RenderQueue
from impasto.studio.painters import PainterQueue
from impasto.studio.paths import (
    IMAGE_EXTENSIONS,
    PathRefused,
    relative_name,
    resolve_inside,
)
from impasto.studio.pictures import SharedLRU

STUDIO_DEFAULTS = {"u": 4.0, "iterations": 96, "seed": 0}
FAST_MODEL_EXTENSION = ".pt"  # what `impasto fast train` writes
THUMBNAILS = 512  # encoded thumbnails kept
PLATES = 8  # plates kept read and shrunk for the fast slider
EWARPS = 64  # E_warp reports kept (per shot file, version and manifest modification time)


class StudioState:
    """The project folder `root` with its preview queue, its painter learning and caches (one per app).

    `learn`: how sweeps' look-development painters are learned (default `LearnSettings()`, on the previews' device)."""

    def __init__(self, root: Path, *, device: str, max_upload_bytes: int, cache_bytes: int,
                 learn: LearnSettings | None = None) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise UsageError(f"Project folder '{self.root}' does not exist or is not a folder.")
        self.max_upload_bytes = max_upload_bytes
        # Finished previews are kept in the folder too, so a restarted studio answers them without rendering.
        self.queue = RenderQueue(device, cache_bytes=cache_bytes, cache_folder=self.root / CACHE_FOLDER)
        self.thumbs: SharedLRU[bytes] = SharedLRU(THUMBNAILS)  # encoded PNGs by file, mtime and edge
        self.plates: SharedLRU[np.ndarray] = SharedLRU(PLATES)  # the slider re-reads nothing
        self.fast = FastPreviewer(device=self.queue.device)
        self.painters = PainterQueue(self.root, self.queue.device, learn)  # sweeps' painters, learned one at a time
        self.ewarps: SharedLRU[dict] = SharedLRU(EWARPS)  # measuring flows is slow: once per rendered state

    # ---------------------------------------------------------------------------------------- paths
    def inside(self, rel: str, *, must_exist: bool = True, kind: str = "file") -> Path:
        """A folder-relative path the page gave, resolved inside the folder (else PathRefused)."""
        try:
            return resolve_inside(self.root, rel, must_exist=must_exist, kind=kind)
        except (OSError, RuntimeError) as exc:  # symlink loops, names too long
            raise PathRefused(f"'{rel}' cannot be resolved ({exc}).") from None

    def inside_abs(self, path: Path) -> Path:
        """An absolute path a core module produced (a shot's frames): it too must be a file inside the folder."""
        try:
            resolved = Path(path).resolve()
        except (OSError, RuntimeError) as exc:
            raise PathRefused(f"'{path}' cannot be resolved ({exc}).") from None
        if not resolved.is_relative_to(self.root):
            raise PathRefused(f"'{path.name}' lies outside the project folder.", 403)
        if not resolved.is_file():
            raise PathRefused(f"'{relative_name(self.root, resolved)}' does not exist in the project folder.", 404)
        return resolved

    def image_inside(self, rel: str) -> Path:
        path = self.inside(rel)
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise PathRefused(f"'{rel}' is not an image file ({', '.join(sorted(IMAGE_EXTENSIONS))}).", 400)
        return path

    def fast_model_inside(self, rel: str) -> Path:
        path = self.inside(rel)
        if path.suffix.lower() != FAST_MODEL_EXTENSION:
            raise PathRefused(f"'{rel}' is not a fast model (a .pt file made by impasto fast train).", 400)
        return path

    def rel_or_none(self, path: Path) -> str | None:
        """`path` as the page's folder-relative name; None when it lies outside the folder or does not exist."""
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError):
            return None
        if resolved.is_relative_to(self.root) and resolved.exists():
            return relative_name(self.root, resolved)
        return None

    def relative(self, path: Path) -> str:
        return relative_name(self.root, path)

    # ---------------------------------------------------------------------------------------- looks
    def make_look(self, fields: dict[str, Any]) -> Look:
        """A Look from the page's fields; paths inside it (init image, weights) must lie in the project folder."""
        try:
            look = Look.model_validate({**STUDIO_DEFAULTS, **fields})
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", "look", *e["loc"])} for e in exc.errors()]) from None
        updates: dict[str, Any] = {}
        if look.init not in ("content", "noise"):
            updates["init"] = str(self.inside(look.init))
        if look.weights is not None:
            updates["weights"] = str(self.inside(look.weights))
        if look.regions:
            updates["regions"] = [self.region_inside(r) for r in look.regions]
        return look.model_copy(update=updates) if updates else look

    def mattes_for(self, look: Look, content: Path) -> Look:
        """The look (made by `make_look`) with matte sequences replaced by their frame for the plate frame `content`:
        a shot's mattes follow the plate's frame numbers, so plates/cs010.1001.exr takes mattes/fg.1001.exr."""
        if not any(r.matte != "alpha" and is_pattern(r.matte) for r in look.regions):
            return look
        regions = []
        for r in look.regions:
            if r.matte != "alpha" and is_pattern(r.matte):
                r = r.model_copy(update={"matte": str(self.inside_abs(matte_path(r.matte, plate_frame(r, content))))})
            regions.append(r)
        return look.model_copy(update={"regions": regions})

    def region_inside(self, region: RegionSpec) -> RegionSpec:
        """A region whose matte and style images the page named relative to the folder, as absolute paths inside it
        (the engine reads them relative to nothing else); 'alpha' stays the content's alpha."""
        update: dict[str, Any] = {}
        if region.matte != "alpha":
            if is_pattern(region.matte):  # a frame pattern: its folder must lie inside
                path = self.inside(region.matte, must_exist=False)
                self.inside(self.relative(path.parent), kind="dir")
            else:
                path = self.image_inside(region.matte)
            update["matte"] = str(path)
        if region.styles is not None:
            update["styles"] = [str(self.image_inside(s)) for s in region.styles]
        return region.model_copy(update=update)


def plate_frame(region: RegionSpec, content: Path) -> int:
    """The frame number of a numbered plate file, for a region whose matte is a sequence (else one sentence)."""
    found = single_frame_file(content)
    if found is None:
        raise UsageError(f"Region '{region.name}' uses the matte sequence '{Path(region.matte).name}'; pick a numbered "
                         "plate frame (like plates/cs010.1001.exr) so the studio knows which matte frame to use.")
    return found[1]


def state(request: Request) -> StudioState:
    """The app's StudioState (a FastAPI dependency)."""
    return request.app.state.studio


Studio = Annotated[StudioState, Depends(state)]
