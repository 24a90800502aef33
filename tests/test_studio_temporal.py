"""The studio's shot view for boil (issue 16): the shot file's [temporal] boil read and written through the API
(with the version-up sentence when painted frames hold another boil), and E_warp per rendered version.

The painted frames are written directly, as tests/test_ewarp_status.py does: v001 boils (the plate plus new noise
every frame), v002 moves with the plate (steady); no optimisation runs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tomli_w

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from impasto.io.frames import Frame, write_frame
from impasto.io.images import write_image
from impasto.shot.config import load_shot
from tests.media import write_painted_version

W, H = 64, 48
FRAMES = list(range(1001, 1006))
PAN = 2  # px per frame


def _crop(img: np.ndarray, n: int) -> np.ndarray:
    x = PAN * (n - FRAMES[0])
    return np.ascontiguousarray(img[24:24 + H, x:x + W])


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from skimage import data
    from skimage.transform import resize

    source = resize(data.astronaut(), (96, 96 + PAN * len(FRAMES)), anti_aliasing=True).astype(np.float32)
    root = tmp_path / "proj"
    (root / "plates").mkdir(parents=True)
    monkeypatch.chdir(root)
    for n in FRAMES:
        write_frame(root / f"plates/ew010.{n}.exr", Frame(_crop(source, n)))
    write_image(root / "style.png", np.full((16, 16, 3), 0.5, np.float32))
    shot = {"name": "ew010", "plate": "plates/ew010.####.exr", "frames": "1001-1005", "styles": ["style.png"],
            "look": {"iterations": 1, "size": 32, "seed": 3}, "render": {"scale": 1.0, "device": "cpu"},
            "output": {"version": 2}}
    (root / "ew010.toml").write_text(tomli_w.dumps(shot))
    rng = np.random.default_rng(7)
    write_painted_version(root / "ew010.toml", 1,
                   {n: np.clip(_crop(source, n) + rng.normal(0, 0.08, (H, W, 3)), 0, 1) for n in FRAMES})
    steady = np.clip(source[..., [1, 2, 0]] * 0.7 + 0.2, 0, 1)
    write_painted_version(root / "ew010.toml", 2, {n: _crop(steady, n) for n in FRAMES})
    return root


@pytest.fixture()
def client(project: Path):
    from impasto.studio.app import create_app

    with TestClient(create_app(project, device="cpu")) as c:
        yield c


def test_boil_round_trips_through_the_shot_file_and_asks_for_a_version_up(client: TestClient, project: Path) -> None:
    s = client.get("/api/shot?path=ew010.toml").json()
    assert s["temporal"]["boil"] == 0 and s["versions"] == [1, 2] and s["boil_note"] is None
    r = client.post("/api/shot/boil", json={"path": "ew010.toml", "boil": 0.5})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["temporal"]["boil"] == 0.5
    assert load_shot(project / "ew010.toml").temporal.boil == 0.5
    assert "[temporal]" in (project / "ew010.toml").read_text()
    # Version 2's frames were painted at boil 0: another boil is another look, as the CLI says.
    note = out["boil_note"]
    assert note and "version-up ew010.toml" in note and "version 3" in note and "--force" in note
    s = client.get("/api/shot?path=ew010.toml").json()
    assert s["temporal"]["boil"] == 0.5 and s["boil_note"] == note and s["counts"]["stale"] == len(FRAMES)
    # Back to boil 0: the frames are current again and the sentence goes.
    back = client.post("/api/shot/boil", json={"path": "ew010.toml", "boil": 0}).json()
    assert back["boil_note"] is None and load_shot(project / "ew010.toml").temporal.boil == 0


@pytest.mark.parametrize("body", [{"path": "ew010.toml", "boil": 1.5}, {"path": "ew010.toml", "boil": -0.1},
                                  {"path": "ew010.toml"}, {"path": "../ew010.toml", "boil": 0.5}])
def test_bad_boil_requests_are_one_sentence(client: TestClient, project: Path, body: dict) -> None:
    before = (project / "ew010.toml").read_text()
    r = client.post("/api/shot/boil", json=body)
    assert r.status_code in (400, 422) and isinstance(r.json()["detail"], str)
    assert (project / "ew010.toml").read_text() == before


def test_ewarp_per_version_is_measured_once_per_manifest(client: TestClient, project: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from impasto.studio.routes import shots

    calls: list[int] = []
    real = shots.ewarp_for_range

    def counted(shot, version, frames, **kw):
        calls.append(version)
        return real(shot, version, frames, **kw)

    monkeypatch.setattr(shots, "ewarp_for_range", counted)
    v1 = client.get("/api/shot/ewarp?path=ew010.toml&version=1").json()
    v2 = client.get("/api/shot/ewarp?path=ew010.toml&version=2").json()
    assert v1["version"] == 1 and v2["version"] == 2
    assert v1["pairs"] == v2["pairs"] == len(FRAMES) - 1 and v1["frames"] == FRAMES
    assert v1["plate"] == v2["plate"] and v1["plate"] < 1.5  # a pure pan: the plate hardly flickers
    assert v1["excess"] > 5.0 and v1["excess"] > 4 * max(v2["excess"], 0.5)  # the boiling version flickers
    assert len(v1["worst"]) == 3 and v1["worst"][0]["excess"] >= v1["worst"][-1]["excess"]
    assert set(v1["worst"][0]) >= {"frames", "painted", "plate", "excess"}
    # The current version by default, and a second look is answered from the cache.
    assert client.get("/api/shot/ewarp?path=ew010.toml").json()["excess"] == v2["excess"]
    assert calls == [1, 2]
    # Saving another boil changes no painted frame: nothing is measured again.
    assert client.post("/api/shot/boil", json={"path": "ew010.toml", "boil": 1}).status_code == 200
    assert client.get("/api/shot/ewarp?path=ew010.toml&version=2").json()["excess"] == v2["excess"]
    assert calls == [1, 2]
    # A render touching the manifest measures again.
    manifest = load_shot(project / "ew010.toml").manifest_path(1)
    st = manifest.stat()
    os.utime(manifest, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    client.get("/api/shot/ewarp?path=ew010.toml&version=1")
    assert calls == [1, 2, 1]
    # A version never rendered says so in a sentence.
    none = client.get("/api/shot/ewarp?path=ew010.toml&version=7").json()
    assert none["pairs"] == 0 and "not been rendered" in none["note"]


def test_shot_view_boil_and_ewarp_in_chromium(project: Path) -> None:
    """The shot view shows E_warp per version (measured on request, spinner first), and saving a boil writes the
    shot file and says a version-up is due."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from tests.test_studio_browser import studio_in_chromium

    with studio_in_chromium(project) as (url, browser):
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        expect = sync_api.expect
        page.locator("#shots li", has_text="ew010").click()
        expect(page.locator("#shot")).to_be_visible()
        expect(page.locator("#boil-value")).to_have_value("0")
        for v in (1, 2):
            row = page.locator(f"#shot-ewarp tr[data-version='{v}'][data-state=done]")
            expect(row).to_have_count(1, timeout=60_000)
            expect(row).to_contain_text("→")  # its worst pairs
        page.fill("#boil-value", "0.5")
        assert page.input_value("#boil") == "0.5"
        page.click("#boil-save")
        expect(page.locator("#boil-note")).to_contain_text("version-up ew010.toml", timeout=30_000)
        assert load_shot(project / "ew010.toml").temporal.boil == 0.5
        page.screenshot(path=str(project.parent / "shot_view.png"), full_page=True)
        assert not errors, errors

