"""bench/temporal.py's arithmetic without a render: seams against the inside of chunks, the targets, the black
lead-in it skips, and its settings."""

from __future__ import annotations

import numpy as np
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


def _setting(excess: float, style: float, seconds: float, boil: float = 0.0, ratio: float | None = None) -> dict:
    ewarp = {"excess": excess, **({"max_pair_ratio": ratio} if ratio is not None else {})}
    return {"setting": {"boil": boil, "scheme": "two-sided", "chunk": 6}, "ewarp": ewarp, "loss": {"style": style},
            "time": {"mean_s": seconds}}


def test_max_pair_ratio_counts_the_seams_too(temporal):
    pairs = [_pair(a, 2.0) for a in range(1, 9)]
    pairs[2] = _pair(3, 5.0)
    assert temporal.max_pair_ratio(pairs) == pytest.approx(2.5)
    assert temporal.max_pair_ratio([]) is None


def test_targets_met_and_missed(temporal):
    clip = {"settings": {"boil0": _setting(4.0, 100.0, 10.0),
                         "boil0.5_two-sided_c6": _setting(2.0, 105.0, 11.0, 0.5, 1.3),
                         "boil1_two-sided_c6": _setting(1.0, 108.0, 6.0, 1.0, 1.2)}}
    got = temporal.targets(clip)
    one, half = got["boil1_two-sided_c6"], got["boil0.5_two-sided_c6"]
    assert "boil0" not in got
    assert one["boil1_excess_fraction"]["figure"] == pytest.approx(0.25) and one["boil1_excess_fraction"]["met"]
    assert one["boil1_style_change"]["met"] and one["boil1_style_change"]["signed"] == pytest.approx(0.08)
    assert one["boil1_time_ratio"]["figure"] == pytest.approx(0.6) and one["boil1_time_ratio"]["met"]
    assert one["max_pair_ratio"]["met"] and half["max_pair_ratio"]["met"]
    assert half["between"]["met"] and half["between"]["figure"]["excess_fraction"] == pytest.approx(0.5)
    clip["settings"]["boil1_two-sided_c6"] = _setting(2.0, 120.0, 8.0, 1.0, 1.8)
    clip["settings"]["boil0.5_two-sided_c6"] = _setting(5.0, 90.0, 10.0, 0.5)  # more flicker than boil 0
    got = temporal.targets(clip)
    one = got["boil1_two-sided_c6"]
    assert not one["boil1_excess_fraction"]["met"] and not one["boil1_style_change"]["met"]
    assert not one["boil1_time_ratio"]["met"] and not one["max_pair_ratio"]["met"]
    assert not got["boil0.5_two-sided_c6"]["between"]["met"]


def test_targets_print_beside_the_figures(temporal, capsys):
    clip = {"shot_frames": "1002-1013", "iterations": 3, "u": 4.0,
            "settings": {"boil0": _setting(4.0, 100.0, 10.0), "boil1_forward_c6": _setting(1.0, 110.0, 14.0, 1.0)}}
    clip["settings"]["boil0"]["ewarp"].update(painted=5.0, plate=1.0, size=[48, 35])
    clip["settings"]["boil1_forward_c6"]["ewarp"].update(painted=2.0, plate=1.0, size=[48, 35])
    clip["targets"] = temporal.targets(clip)
    temporal.print_clip("clip.avi", clip)
    out = capsys.readouterr().out
    assert "48×35" in out
    assert "boil1_forward_c6 excess / boil 0's excess: 25 % <= 0.3 -> met" in out
    assert "time per frame / boil 0's (keyframes included): 1.40 <= 0.7 -> MISSED" in out


def test_the_chart_marks_the_seams(temporal, tmp_path):
    from PIL import Image

    e = {"per_pair": [[a, a + 1, 2.0 + (a == 3), 1.0] for a in range(1, 9)], "keyframes": [1, 4, 7],
         "max_pair_ratio": 1.5}
    path = temporal.chart(e, tmp_path / "c.png", "test")
    pixels = np.asarray(Image.open(path).convert("RGB"))
    assert (np.abs(pixels.astype(int) - (200, 40, 40)).sum(axis=2) == 0).any()  # a seam bar


def test_black_lead_in_is_skipped(temporal, tmp_path):
    movie = write_movie(tmp_path / "fade.avi", [0.0, 0.0, 0.5, 0.6])
    assert temporal.lead_in(movie) == 2
    assert temporal.lead_in(write_movie(tmp_path / "lit.avi", [0.5, 0.6])) == 0


def test_quick_settings(temporal):
    a = temporal.parse(["--quick", "--chunk", "4"])
    assert (a.frames, a.edge, a.iterations, a.chunks) == (12, 128, 128, [4])
    a = temporal.parse([])
    assert (a.frames, a.edge, a.iterations, a.chunks, a.u) == (24, 256, 256, [12], 4.0)
    a = temporal.parse(["--chunks", "6,12", "--boils", "1"])
    names = [st.name for st in temporal.settings(a)]
    assert names == ["boil0", "boil1_forward_c6", "boil1_two-sided_c6", "boil1_forward_c12", "boil1_two-sided_c12",
                     "boil1_relay_c6", "boil1_relay_c12", "from_previous"]
    assert "from_previous" not in a.settings.split(",")
    with pytest.raises(SystemExit):
        temporal.parse(["--schemes", "both"])
