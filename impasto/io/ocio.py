"""Colour management with OpenColorIO: plates in their own space <-> the display-referred 0-1 images the network sees.

The config is `$OCIO` when set, else OCIO's built-in ACES studio config (`ocio://studio-config-latest`: the CG
config plus camera log spaces such as ARRI LogC, S-Log3, Log3G10, V-Log). Colour spaces are looked up by name,
alias or role (`ACEScg`, `lin_srgb`, `srgb_tx`, `scene_linear`).

Which view transforms invert well (`from_display(to_display(x)) == x`):
- `Un-tone-mapped` and `Video (colorimetric)` (a plain encoding to the display): exact to ~1e-5 for values the
  display can hold (0-1 linear Rec.709 for an sRGB display); anything outside is clipped by the 0-1 range.
- `ACES 2.0 - SDR 100 nits (...)` (the default view): a tone map that compresses highlights and gamut. It
  inverts to ~1e-3 for in-gamut values up to about 1-2 scene-linear (display up to ~0.9); near display white
  the inverse runs away (display 1.0 -> ~128 scene-linear) and saturated wide-gamut colours do not come back.
  Display values are clamped to 0-1 before the inverse; pass `ceiling` (e.g. the plate's maximum) to bound it.
- `Raw`: no change at all (data); values outside 0-1 are clipped on the way in.
Display-encoded inputs (`sRGB Encoded Rec.709 (sRGB)`, movies) default to the `Un-tone-mapped` view, so the
network sees the picture as it is rather than tone-mapped a second time.
"""

from __future__ import annotations

import difflib
import os
from functools import lru_cache
from typing import Any

import numpy as np

from impasto.errors import UsageError

DEFAULT_CONFIG = "ocio://studio-config-latest"
# The view used for inputs that are already display pictures (sRGB textures, video, data).
PLAIN_VIEWS = ("Un-tone-mapped", "Video (colorimetric)", "Raw")


def _ocio():
    import PyOpenColorIO as ocio  # deferred: only shots with colour management load OCIO and its config

    return ocio


def _close(name: str, choices: list[str]) -> str:
    near = difflib.get_close_matches(name, choices, n=3, cutoff=0.4)
    if not near:
        low = name.lower()
        near = [c for c in choices if low in c.lower() or c.lower() in low][:3]
    if near:
        return f"; did you mean {' or '.join(repr(n) for n in near)}"
    shown = ", ".join(repr(c) for c in choices[:8])
    return f" (it has {shown}{', ...' if len(choices) > 8 else ''})"


class ColourConfig:
    """An OCIO config with cached processors for plate <-> display conversions."""

    def __init__(self, source: str | os.PathLike | None = None) -> None:
        ocio = _ocio()
        env = os.environ.get("OCIO", "").strip()
        self.source = str(source) if source else (env or DEFAULT_CONFIG)
        try:
            if self.source.startswith("ocio://"):
                self.config = ocio.Config.CreateFromFile(self.source)
            else:
                if not os.path.isfile(self.source):
                    where = "$OCIO names" if not source and env else "OCIO config"
                    raise UsageError(f"The {where} '{self.source}', which does not exist.")
                self.config = ocio.Config.CreateFromFile(self.source)
        except ocio.Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown error"
            raise UsageError(f"OCIO config '{self.source}' could not be loaded ({first}).") from None
        self.name = self.config.getName() or self.source
        self._procs: dict[tuple[Any, ...], Any] = {}

    def __repr__(self) -> str:
        return f"ColourConfig({self.source!r}, name={self.name!r})"

    # ----------------------------------------------------------------------------------------- names
    def colour_spaces(self) -> list[str]:
        return list(self.config.getColorSpaceNames())

    def colour_space(self, name: str) -> str:
        """The config's own name for a colour space, alias or role; UsageError naming close matches."""
        cs = self.config.getColorSpace(str(name))
        if cs is None:
            choices = self.colour_spaces()
            for n in list(choices):
                choices.extend(self.config.getColorSpace(n).getAliases())
            raise UsageError(f"Colour space '{name}' is not in the OCIO config '{self.name}'{_close(str(name), choices)}.")
        return cs.getName()

    def encoding(self, name: str) -> str:
        """OCIO's encoding of a colour space: scene-linear, log, sdr-video, hdr-video, data (or '')."""
        return self.config.getColorSpace(self.colour_space(name)).getEncoding() or ""

    def displays(self) -> list[str]:
        return list(self.config.getDisplays())

    def views(self, display: str | None = None) -> list[str]:
        return list(self.config.getViews(self.display(display)))

    def display(self, display: str | None = None) -> str:
        """A display name checked against the config (default: the config's default display)."""
        if not display:
            return self.config.getDefaultDisplay()
        names = self.displays()
        if display not in names:
            raise UsageError(f"Display '{display}' is not in the OCIO config '{self.name}'{_close(display, names)}.")
        return display

    def view(self, input_space: str, display: str | None = None, view: str | None = None) -> str:
        """A view checked against the display; by default the config's, or a plain one for display-encoded inputs."""
        d = self.display(display)
        names = list(self.config.getViews(d))
        if view:
            if view not in names:
                raise UsageError(f"View '{view}' is not a view of display '{d}'{_close(view, names)}.")
            return view
        enc = self.encoding(input_space)
        if enc in ("sdr-video", "data"):
            for plain in PLAIN_VIEWS:
                if plain in names:
                    return plain
        return self.config.getDefaultView(d)

    # ---------------------------------------------------------------------------------- processors
    def _processor(self, key: tuple[Any, ...], transform: Any) -> Any:
        proc = self._procs.get(key)
        if proc is None:
            ocio = _ocio()
            try:
                proc = self.config.getProcessor(transform).getDefaultCPUProcessor()
            except ocio.Exception as exc:
                raise UsageError(f"OCIO cannot build the transform {key[1:]} ({str(exc).strip().splitlines()[0]}).") from None
            self._procs[key] = proc
        return proc

    def _display_processor(self, input_space: str, display: str | None, view: str | None, inverse: bool) -> Any:
        ocio = _ocio()
        src = self.colour_space(input_space)
        d = self.display(display)
        v = self.view(src, d, view)
        direction = ocio.TRANSFORM_DIR_INVERSE if inverse else ocio.TRANSFORM_DIR_FORWARD
        t = ocio.DisplayViewTransform(src=src, display=d, view=v, direction=direction)
        return self._processor(("dv", src, d, v, inverse), t)

    @staticmethod
    def _apply(proc: Any, rgb: np.ndarray) -> np.ndarray:
        arr = np.array(rgb, dtype=np.float32, order="C", copy=True)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise UsageError(f"Colour transforms need height × width × 3 pixels, not shape {arr.shape}.")
        proc.applyRGB(arr)  # in place
        return arr

    # ---------------------------------------------------------------------------------- transforms
    def to_display(self, rgb: np.ndarray, input_space: str, display: str | None = None, view: str | None = None) -> np.ndarray:
        """Plate pixels in `input_space` -> display-referred float32 0-1 through the display's view transform."""
        out = self._apply(self._display_processor(input_space, display, view, False), np.nan_to_num(rgb))
        return np.clip(out, 0.0, 1.0)

    def from_display(self, rgb01: np.ndarray, input_space: str, display: str | None = None, view: str | None = None,
                     ceiling: float | None = None) -> np.ndarray:
        """Display-referred 0-1 pixels -> the plate's `input_space` (the inverse view transform).

        Input is clamped to 0-1 first; `ceiling` caps the result (tone-mapped views run away near white).
        """
        arr = np.clip(np.nan_to_num(np.asarray(rgb01, dtype=np.float32)), 0.0, 1.0)
        out = self._apply(self._display_processor(input_space, display, view, True), arr)
        if ceiling is not None:
            np.minimum(out, np.float32(ceiling), out=out)
        return np.nan_to_num(out, nan=0.0, posinf=ceiling or 65504.0, neginf=-65504.0)

    def convert(self, rgb: np.ndarray, src: str, dst: str) -> np.ndarray:
        """Plain colour space conversion, e.g. 'ACEScg' -> 'Linear Rec.709 (sRGB)' (no clamping)."""
        ocio = _ocio()
        s, d = self.colour_space(src), self.colour_space(dst)
        if s == d:
            return np.array(rgb, dtype=np.float32, copy=True)
        t = ocio.ColorSpaceTransform(src=s, dst=d)
        return self._apply(self._processor(("cs", s, d), t), rgb)

    def describe(self, input_space: str, display: str | None = None, view: str | None = None) -> dict[str, str]:
        """The resolved names (config, colour space, display, view), for manifests and status lines."""
        src = self.colour_space(input_space)
        d = self.display(display)
        return {"config": self.name, "colour_space": src, "display": d, "view": self.view(src, d, view)}


@lru_cache(maxsize=8)
def _cached(source: str | None, env: str) -> ColourConfig:
    return ColourConfig(source)


def get_config(source: str | os.PathLike | None = None) -> ColourConfig:
    """A shared ColourConfig for `source` (None: $OCIO, else the built-in studio config)."""
    return _cached(str(source) if source else None, os.environ.get("OCIO", ""))


def to_display(rgb: np.ndarray, input_space: str, display: str | None = None, view: str | None = None,
               config: ColourConfig | None = None) -> np.ndarray:
    """Plate pixels -> display-referred float32 0-1 (what the network sees)."""
    return (config or get_config()).to_display(rgb, input_space, display, view)


def from_display(rgb01: np.ndarray, input_space: str, display: str | None = None, view: str | None = None,
                 config: ColourConfig | None = None, ceiling: float | None = None) -> np.ndarray:
    """Display-referred 0-1 pixels -> the plate's colour space (inverse of `to_display`)."""
    return (config or get_config()).from_display(rgb01, input_space, display, view, ceiling=ceiling)


def convert(rgb: np.ndarray, src: str, dst: str, config: ColourConfig | None = None) -> np.ndarray:
    """Convert pixels between two colour spaces of the config."""
    return (config or get_config()).convert(rgb, src, dst)
