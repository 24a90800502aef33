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
from impasto.lru import LRU
from impasto.shot.config import Shot, colour_names

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


def look_hash(shot: Shot) -> str:
    """Digest of everything that changes how a frame is painted: look fields (not where the look was developed),
    style image contents, colour transforms, render scale, post steps and the previous-frame start. At boil > 0
    the temporal settings follow as a readable suffix (`+boil0.5c12p3`), so a version never mixes boils; boil 0
    adds nothing, so a shot without [temporal] keeps its hash."""
    look, styles = shot.resolved_look()
    # Defaults left out: a new look setting in a later impasto does not turn every finished version stale.
    fields = look.model_dump(mode="json", exclude={"size", "compile"}, exclude_defaults=True)
    fields["seed"] = look.seed
    if shot.render.from_previous:
        fields["init"] = "previous"
    data = {
        "look": fields,
        "styles": [cached_digest(s) for s in styles],
        "colour": {**colour_names(shot), "alpha": shot.colour.alpha},
        "scale": shot.render.scale,
        "post": shot.post.model_dump(mode="json", exclude_defaults=True),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16] + shot.temporal.key()
