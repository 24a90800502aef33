"""Uploaded style images: checked from the header, decoded, then linked in under a free name, never overwriting."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from fastapi import HTTPException

from impasto.errors import UsageError
from impasto.files import atomic_write_bytes, temporary_name
from impasto.io.images import header_size, read_image

MAX_UPLOAD_BYTES = 64 * 2**20
MAX_UPLOAD_EDGE = 16384  # a small file can still declare a huge picture: checked from the header before decoding
MAX_UPLOAD_PIXELS = 120 * 10**6
MAX_SAME_NAME = 1000  # name.png, name-1.png, ... name-999.png


def store_upload(data: bytes, folder: Path, name: str) -> tuple[Path, np.ndarray]:
    """Write an upload under a hidden temporary name, check it decodes, then link it in without overwriting."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(folder / f"upload{Path(name).suffix.lower()}")  # the suffix tells OpenImageIO the format
    try:
        tmp.write_bytes(data)
        _check_header(tmp)
        rgb = _decode(tmp)
        stem, ext = Path(name).stem, Path(name).suffix
        for n in range(MAX_SAME_NAME):
            final = folder / (name if n == 0 else f"{stem}-{n}{ext}")
            if _claim(tmp, final, data):
                return final, rgb
        raise HTTPException(409, f"Too many files named like '{name}' in '{folder.name}'.")
    finally:
        tmp.unlink(missing_ok=True)


def _check_header(path: Path) -> None:
    w, h = header_size(path)
    if w is not None and h is not None and (max(w, h) > MAX_UPLOAD_EDGE or w * h > MAX_UPLOAD_PIXELS):
        raise HTTPException(413, f"The upload is {w}×{h} px; the studio takes at most {MAX_UPLOAD_EDGE} px a side "
                                 f"and {MAX_UPLOAD_PIXELS // 10**6} megapixels.")


def _claim(tmp: Path, final: Path, data: bytes) -> bool:
    """Put the upload at `final` if that name is free (True), never replacing a file already there (False)."""
    try:
        os.link(tmp, final)  # fails if the name is taken: never overwrites
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links here (FAT, some network shares): claim the name, then write over the claim
        try:
            os.close(os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        try:
            atomic_write_bytes(final, data)
        except Exception:
            final.unlink(missing_ok=True)  # the empty claim
            raise
        return True


def _decode(path: Path) -> np.ndarray:
    """Read every pixel (OpenImageIO): the upload is an image, or a 415."""
    try:
        return read_image(path)
    except UsageError as exc:
        raise HTTPException(415, f"The upload is not an image OpenImageIO can decode ({exc}).") from None
