"""bench/temporal.py's arithmetic without a render: seams against the inside of chunks, the targets, the black
lead-in it skips, and its settings."""

from __future__ import annotations

import pytest

from tests.media import bench_module, write_movie


@pytest.fixture(scope="module")
def temporal():
    with bench_module("temporal") as module:
        yield module


def _pair(a: int, painted: float, plate: float = 1.0) -> dict:
    return {"frames": [a, a + 1], "painted": painted, "plate": plate, "excess": painted - plate}


def test_seams_are_the_pairs_into_a_keyframe(temporal):
    # Frames 1-9, chunk 3: keyframes 1, 4, 7; seams (3, 4) and (6, 7).
    pairs = [_pair(a, 2.0) for a in range(1, 9)]
    pairs[2] = _pair(3, 5.0)  # (3, 4)
    pairs[5] = _pair(6, 3.0)  # (6, 7)
    got = temporal.seam_figures(pairs, [1, 4, 7])
    assert [p[:2] for p in got["pairs"]] == [[3, 4], [6, 7]]
    assert got["seam_painted_mean"] == pytest.approx(4.0)
    assert got["inside_painted_median"] == pytest.approx(2.0)
    assert got["ratio"] == pytest.approx(2.0)
    assert got["excess_ratio"] == pytest.approx(3.0)  # (4 - 1) / (2 - 1)


def test_no_seam_no_figure(temporal):
    assert temporal.seam_figures([_pair(a, 2.0) for a in range(1, 4)], [1]) is None


def _setting(excess: float, style: float, seconds: float, seams: dict | None = None) -> dict:
    ewarp = {"excess": excess, **({"seams": seams} if seams else {})}
    return {"ewarp": ewarp, "loss": {"style": style}, "time": {"median_s": seconds}}


def test_targets_met_and_missed(temporal):
    clip = {"settings": {"boil0": _setting(4.0, 100.0, 10.0), "boil0.5": _setting(2.0, 105.0, 11.0),
                         "boil1": _setting(1.0, 110.0, 14.0, {"ratio": 1.2})}}
    got = temporal.targets(clip)
    assert got["boil1_excess_fraction"]["figure"] == pytest.approx(0.25) and got["boil1_excess_fraction"]["met"]
    assert got["boil1_style_change"]["met"] and got["boil1_style_change"]["signed"] == pytest.approx(0.10)
    assert got["boil05_between"]["met"] and got["boil05_between"]["figure"]["excess_fraction"] == pytest.approx(0.5)
    assert got["boil1_time_ratio"]["figure"] == pytest.approx(1.4) and not got["boil1_time_ratio"]["met"]
    assert got["seam_ratio"]["met"]
    clip["settings"]["boil1"] = _setting(2.0, 130.0, 10.0, {"ratio": 1.8})
    clip["settings"]["boil0.5"] = _setting(5.0, 90.0, 10.0)  # more flicker than boil 0: not in between
    got = temporal.targets(clip)
    assert not got["boil1_excess_fraction"]["met"] and not got["boil1_style_change"]["met"]
    assert not got["seam_ratio"]["met"] and not got["boil05_between"]["met"]


def test_targets_print_beside_the_figures(temporal, capsys):
    clip = {"shot_frames": "1002-1013", "iterations": 3, "u": 4.0, "chunk": 6,
            "settings": {"boil0": _setting(4.0, 100.0, 10.0), "boil1": _setting(1.0, 110.0, 14.0, None)}}
    clip["settings"]["boil0"]["ewarp"].update(painted=5.0, plate=1.0, size=[48, 35])
    clip["settings"]["boil1"]["ewarp"].update(painted=2.0, plate=1.0, size=[48, 35])
    clip["targets"] = temporal.targets(clip)
    temporal.print_clip("clip.avi", clip)
    out = capsys.readouterr().out
    assert "48×35" in out
    assert "boil 1 excess / boil 0's excess: 25 % <= 0.3 -> met" in out
    assert "time per frame, boil 1 / boil 0: 1.40 <= 1.3 -> MISSED" in out


def test_black_lead_in_is_skipped(temporal, tmp_path):
    movie = write_movie(tmp_path / "fade.avi", [0.0, 0.0, 0.5, 0.6])
    assert temporal.lead_in(movie) == 2
    assert temporal.lead_in(write_movie(tmp_path / "lit.avi", [0.5, 0.6])) == 0


def test_quick_settings(temporal):
    a = temporal.parse(["--quick", "--chunk", "4"])
    assert (a.frames, a.edge, a.iterations, a.chunk) == (12, 128, 128, 4)
    a = temporal.parse([])
    assert (a.frames, a.edge, a.iterations, a.chunk, a.u) == (24, 256, 256, 12, 4.0)
