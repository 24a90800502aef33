"""What makes a shot's frames what they are: the look hash every manifest entry records, and the file digests
it is built from. The shot file (`Shot`) only holds settings; the files it names are read here, and digests are
cached per path, modification time and size, so a status or plan hashes each style image once.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from impasto.files import file_digest
from impasto.io.mattes import is_pattern, matte_digest, matte_path
from impasto.look import Look
from impasto.lru import LRU
from impasto.shot.config import Shot, TemporalSettings, colour_names
from impasto.shot.manifest import read_manifest

_DIGESTS: LRU[tuple[str, int, int], str] = LRU(256)


def cached_digest(path: str | os.PathLike) -> str:
    """blake2b-128 of a file's bytes (the digest manifests store), cached while the file is unchanged."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        return file_digest(path)  # says in one sentence why it cannot be read
    key = (str(path.absolute()), st.st_mtime_ns, st.st_size)
    return _DIGESTS.get_or_make(key, lambda: file_digest(path))


def _portable(region: dict, root: Path) -> dict:
    def rel(path: str) -> str:
        try:
            return os.path.relpath(path, root) if os.path.isabs(path) else path
        except ValueError:  # another drive on Windows
            return path
    region = dict(region)
    if region["matte"] != "alpha":
        region["matte"] = rel(region["matte"])
    if region.get("styles"):
        region["styles"] = [rel(s) for s in region["styles"]]
    return region


def matte_hashes(look: Look, frame: int) -> dict[str, str]:
    """Region name -> digest of its matte file for `frame` (a pattern's frame, or the one image), as a manifest
    entry records them; a region on the plate's alpha is covered by the plate's digest. One sentence for a
    missing matte frame, naming it."""
    out = {}
    for r in look.regions:
        if r.matte == "alpha":
            continue
        file = matte_path(r.matte, frame if is_pattern(r.matte) else None)
        if not file.is_file():
            matte_digest(r.matte, frame)  # raises its sentence: which matte frame is not there
        out[r.name] = cached_digest(file)
    return out


def settled_temporal(shot: Shot) -> TemporalSettings:
    """The shot's temporal settings with what its file leaves unsaid filled in (`TemporalSettings.settled`): at
    boil > 0, a version whose manifest holds frames painted with the settings of before `between` and
    `iterations = "auto"` existed keeps those (its look hash does not change under it); any other takes today's
    defaults. `impasto shot version-up` moves to an empty version, so to today's defaults."""
    t = shot.temporal
    if t.boil == 0 or (t.between is not None and t.iterations is not None):
        return t.settled()
    before = t.settled(painted_before=True)
    if before.key() == t.settled().key():
        return before
    suffix = before.key()
    path = shot.manifest_path()
    if path.is_file():
        done = read_manifest(path).done().values()
        if any(e.look_hash and e.look_hash.endswith(suffix) for e in done):
            return before
    return t.settled()


def look_hash(shot: Shot) -> str:
    """Digest of everything that changes how a frame is painted: look fields (not where the look was developed),
    style image contents, colour transforms, render scale, post steps and the previous-frame start. With render.learned, `+learnedN` follows. At boil > 0
    the temporal settings follow as a readable suffix (`+boil0.5c12p3`), so a version never mixes boils; boil 0
    adds nothing, so a shot without [temporal] keeps its hash."""
    look, styles = shot.resolved_look()
    # Defaults left out: a new look setting in a later impasto does not turn every finished version stale.
    fields = look.model_dump(mode="json", exclude={"size", "compile"}, exclude_defaults=True)
    fields["seed"] = look.seed
    if shot.render.from_previous:
        fields["init"] = "previous"
    if look.regions:
        # Region settings as the shot names its files (relative to the shot file: a moved project keeps its hash),
        # with the region style images' contents; the mattes' own contents are each frame's (FrameEntry.mattes).
        fields["regions"] = [_portable(r.model_dump(mode="json"), shot.root) for r in look.regions]
        fields["region_styles"] = [[cached_digest(s) for s in r.styles or []] for r in look.regions]
    data = {
        "look": fields,
        "styles": [cached_digest(s) for s in styles],
        "colour": {**colour_names(shot), "alpha": shot.colour.alpha},
        "scale": shot.render.scale,
        "post": shot.post.model_dump(mode="json", exclude_defaults=True),
    }
    # A learned painter's frames belong to the version by design (the suffix keeps them apart from a version
    # painted wholly by the optimisation); which painter painted each is the frame's entry's `painter`.
    learned = (f"+learned{shot.render.learned}" + (f"r{shot.learn.refine}" if shot.learn.refine else "")
               if shot.render.learned else "")
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16] + settled_temporal(shot).key() + learned
