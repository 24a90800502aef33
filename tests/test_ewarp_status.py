"""E_warp in `impasto status` and `impasto review --compare` (issue 16 part 4), on a synthetic panning shot whose
"painted" frames are written directly: v001 is the plate plus independent noise per frame (it boils), v002 a
stylised picture that moves with the plate (steady). Status ranks v001's excess E_warp far above v002's, the
plate's own E_warp is near 0 for a pure pan, the worst pairs are named and both versions listed; the review
writes plate | v002 | v001 side by side."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import tomli_w
from typer.testing import CliRunner

from impasto.cli import app
from impasto.io.frames import Frame, write_frame
from impasto.io.images import write_image
from impasto.shot.config import load_shot
from impasto.shot.movie import available_encoders
from impasto.shot.status import ewarp_for_range, manifest_versions, paint_size
from tests.media import write_painted_version

runner = CliRunner()
W, H = 64, 48
FRAMES = list(range(1001, 1007))
PAN = 2  # px per frame
CODEC = "prores" if available_encoders()["prores"] else "h264"
SUFFIX = ".mov" if CODEC == "prores" else ".mp4"


@pytest.fixture(scope="module")
def source() -> np.ndarray:
    from skimage import data
    from skimage.transform import resize

    return resize(data.astronaut(), (96, 96 + PAN * len(FRAMES)), anti_aliasing=True).astype(np.float32)


def _crop(img: np.ndarray, n: int) -> np.ndarray:
    x = PAN * (n - FRAMES[0])
    return np.ascontiguousarray(img[24:24 + H, x:x + W])


@pytest.fixture()
def shot_file(tmp_path: Path, source: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plates").mkdir()
    for n in FRAMES:
        write_frame(tmp_path / f"plates/ew010.{n}.exr", Frame(_crop(source, n)))
    write_image(tmp_path / "style.png", np.full((16, 16, 3), 0.5, np.float32))
    data = {"name": "ew010", "plate": "plates/ew010.####.exr", "frames": "1001-1006", "styles": ["style.png"],
            "look": {"iterations": 1, "size": 32, "seed": 3}, "render": {"scale": 1.0, "device": "cpu"},
            "output": {"version": 2}}
    path = tmp_path / "ew010.toml"
    path.write_text(tomli_w.dumps(data))
    rng = np.random.default_rng(7)
    boiling = {n: np.clip(_crop(source, n) + rng.normal(0, 0.08, (H, W, 3)), 0, 1) for n in FRAMES}
    steady_source = np.clip(source[..., [1, 2, 0]] * 0.7 + 0.2, 0, 1)  # a "painting" that moves with the plate
    write_painted_version(path, 1, boiling, boil=0.0)
    write_painted_version(path, 2, {n: _crop(steady_source, n) for n in FRAMES}, boil=1.0)
    return path


def test_status_ranks_a_boiling_version_above_a_steady_one(shot_file: Path) -> None:
    shot = load_shot(shot_file)
    assert manifest_versions(shot) == [1, 2]
    assert paint_size(shot, (W, H)) == (W, H)

    res = runner.invoke(app, ["status", str(shot_file), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    ew = data["ewarp"]
    assert ew["size"] == [W, H]
    v1, v2 = ew["versions"]
    assert (v1["version"], v2["version"]) == (1, 2)
    assert v1["pairs"] == v2["pairs"] == len(FRAMES) - 1
    # a pure pan: the plate's own E_warp is near 0 (0-255), and both versions are measured against the same plate
    assert v1["plate"] == v2["plate"] and v1["plate"] < 1.5
    assert v1["excess"] > 5.0 and v1["excess"] > 4 * max(v2["excess"], 0.5)
    assert abs(v1["excess"] - (v1["painted"] - v1["plate"])) < 1e-9
    # the worst pairs are named by their frames, worst first, and are real pairs
    worst = v1["worst"]
    assert len(worst) == 3 and all(w["frames"][1] == w["frames"][0] + 1 for w in worst)
    assert [w["excess"] for w in worst] == sorted((w["excess"] for w in worst), reverse=True)
    assert (v1["boil"], v2["boil"]) == ([0.0], [1.0])

    # the flows went to the shot's flow cache, one per pair, and a second status reads them back
    cached = sorted(shot.flow_folder().glob("*.npz"))
    assert len(cached) == len(FRAMES) - 1
    stamps = [p.stat().st_mtime_ns for p in cached]
    res = runner.invoke(app, ["status", str(shot_file)])
    assert res.exit_code == 0, res.output
    assert [p.stat().st_mtime_ns for p in sorted(shot.flow_folder().glob("*.npz"))] == stamps
    flat = " ".join(res.output.split())
    assert "Traceback" not in res.output
    assert "done 6: 1001-1006" in flat and "consecutive frame pairs" in flat  # the older flicker figures stay
    assert f"paint size {W}×{H}" in flat
    assert "v001 painted" in flat and "v002 (this) painted" in flat
    a, b = worst[0]["frames"]
    assert f"worst {a}-{b} (+" in flat
    assert "pairs; boil 0 " in flat and "pairs; boil 1 " in flat

    # only the current version when asked; a version that is not a number is one sentence
    data = json.loads(runner.invoke(app, ["status", str(shot_file), "--json", "--versions", "current"]).output)
    assert [v["version"] for v in data["ewarp"]["versions"]] == [2]
    res = runner.invoke(app, ["status", str(shot_file), "--versions", "latest"])
    assert res.exit_code != 0 and "Traceback" not in res.output and "--versions 'latest'" in res.output


def test_ewarp_for_a_range_and_what_it_leaves_out_without_a_flow_cache(shot_file: Path) -> None:
    shot = load_shot(shot_file)
    shot.output_path(1004, 1).write_bytes(b"not an exr")  # damaged behind impasto's back
    shot.flow_folder().write_text("in the way")  # the flow cache cannot be made: measured all the same
    out = ewarp_for_range(shot, 1, [1002, 1003, 1004, 1005, 1006])
    assert out["version"] == 1 and out["size"] == [W, H]
    assert [p["frames"] for p in out["per_pair"]] == [[1002, 1003], [1005, 1006]]
    assert out["pairs"] == 2 and out["left_out"] == {"damaged": [1004]}
    assert out["painted"] == pytest.approx(np.mean([p["painted"] for p in out["per_pair"]]))
    assert out["excess"] > 5.0 and out["worst"][0]["excess"] >= out["worst"][1]["excess"]
    assert shot.flow_folder().read_text() == "in the way"


def _decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").astype(np.float32) / 255 for f in c.decode(c.streams.video[0])]


def test_review_compare_writes_plate_and_both_versions_side_by_side(shot_file: Path, tmp_path: Path) -> None:
    movie = tmp_path / f"cmp{SUFFIX}"
    res = runner.invoke(app, ["review", str(shot_file), "--compare", "1", "-o", str(movie), "--codec", CODEC,
                              "--no-burn-in"])
    assert res.exit_code == 0, res.output
    assert "plate | v002 | v001 side by side" in " ".join(res.output.split())
    pictures = _decoded(movie)
    assert len(pictures) == len(FRAMES)
    assert pictures[0].shape == (H, 3 * W, 3)
    # below the labels, the panels are the plate, the steady version and the noisy one
    plate, mine, other = (pictures[2][H // 2:, i * W:(i + 1) * W] for i in range(3))
    assert np.abs(plate - mine).mean() > 0.05 and np.abs(mine - other).mean() > 0.05
    rough = [np.abs(np.diff(p, axis=1)).mean() for p in (plate, mine, other)]
    assert rough[2] > rough[0] and rough[2] > rough[1]  # the noise is in the right-hand panel

    gone = tmp_path / f"none{SUFFIX}"
    res = runner.invoke(app, ["review", str(shot_file), "--compare", "3", "-o", str(gone), "--codec", CODEC])
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert "Version 3 of ew010 has no painted frames to compare with" in " ".join(res.output.split())
    assert len([s for s in res.output.strip().split(". ") if s]) == 1 and not gone.exists()


def test_a_movie_plate_is_measured_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.media import write_movie, write_painted_version

    monkeypatch.chdir(tmp_path)
    write_movie(tmp_path / "clip.mov", [0.3, 0.35, 0.4, 0.45])  # 64×48 flat greys
    write_image(tmp_path / "style.png", np.full((16, 16, 3), 0.5, np.float32))
    data = {"name": "mv010", "plate": "clip.mov", "frames": "1001-1004", "styles": ["style.png"],
            "look": {"iterations": 1, "size": 32, "seed": 3}, "render": {"scale": 0.5, "device": "cpu"}}
    path = tmp_path / "mv010.toml"
    path.write_text(tomli_w.dumps(data))
    rng = np.random.default_rng(1)
    write_painted_version(path, 1, {n: rng.uniform(0.2, 0.6, (H, W, 3)) for n in range(1001, 1005)}, boil=0.0)
    res = runner.invoke(app, ["status", str(path), "--json"])
    assert res.exit_code == 0, res.output
    ew = json.loads(res.output)["ewarp"]
    assert ew["size"] == [32, 24]  # measured at the paint size (scale 0.5), not the plate's 64×48
    (v1,) = ew["versions"]
    assert v1["pairs"] == 3 and v1["plate"] > 1.0 and v1["excess"] > 2.0  # the plate fades up: it has E_warp too
