"""The studio's look view with regions (issue 17 part 5): a region added from the page is saved into the look
file (paths relative to it), read back relative to the project, its u changes the preview, its matte is served
as a coloured overlay for the plate, and in Chromium the region's u slider drives the preview and the overlay
toggles. 48-64 px, 2 iterations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from impasto.io.images import write_image
from impasto.io.mattes import read_matte
from impasto.look import Look, LookFile, load_look, save_look

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _folder(root: Path, content_rgb: np.ndarray, style_rgb: np.ndarray) -> Path:
    """plates/plate.png (64 px), styles/painting.png, mattes/fg.png (the left half) and a look file without regions."""
    for d in ("plates", "styles", "mattes", "looks"):
        (root / d).mkdir(parents=True, exist_ok=True)
    write_image(root / "plates" / "plate.png", content_rgb[:64, :64])
    write_image(root / "styles" / "painting.png", style_rgb)
    matte = np.zeros((64, 64, 3), np.float32)
    matte[:, :32] = 1.0
    write_image(root / "mattes" / "fg.png", matte)
    save_look(root / "looks" / "hero.look.toml",
              LookFile(look=Look(u=6.0, iterations=2, size=48, seed=1), content="../plates/plate.png",
                       styles=["../styles/painting.png"]))
    return root


@pytest.fixture()
def project(tmp_path: Path, content_rgb: np.ndarray, style_rgb: np.ndarray) -> Path:
    root = _folder(tmp_path / "proj", content_rgb, style_rgb)
    write_image(tmp_path / "secret.png", content_rgb)  # outside the project
    return root


@pytest.fixture()
def client(project: Path):
    from impasto.studio.app import create_app

    with TestClient(create_app(project, device="cpu")) as c:
        yield c


def _add(client: TestClient, **fields) -> dict:
    r = client.post("/api/look/region", json={"look": "looks/hero.look.toml", **fields})
    assert r.status_code == 200, r.text
    return r.json()


def test_adding_a_region_saves_it_into_the_look_file(client: TestClient, project: Path) -> None:
    out = _add(client, name="fg", matte="mattes/fg.png", u=2, feather=4)
    (region,) = out["look"]["regions"]
    assert region == {"name": "fg", "matte": "mattes/fg.png", "u": 2.0, "feather": 4.0, "invert": False}
    saved = load_look(project / "looks" / "hero.look.toml")
    assert saved.look.u == 6.0 and saved.content == "../plates/plate.png"  # the rest of the look as it was
    assert [(r.name, r.matte, r.u, r.feather) for r in saved.look.regions] == [("fg", "../mattes/fg.png", 2.0, 4.0)]
    # Read back with paths relative to the project, as the page names them; a second region with a style.
    out = _add(client, matte="mattes/fg.png", invert=True, styles=["styles/painting.png"])
    assert [r["name"] for r in out["look"]["regions"]] == ["fg", "region2"]
    assert out["look"]["regions"][1]["styles"] == ["styles/painting.png"]
    assert client.get("/api/look?path=looks/hero.look.toml").json()["look"]["regions"] == out["look"]["regions"]
    roles = {im["path"]: im["role"] for im in client.get("/api/project").json()["images"]}
    assert roles["mattes/fg.png"] == "matte"  # offered as a matte, never as a plate or a painting
    assert load_look(project / "looks" / "hero.look.toml").look.regions[1].styles == ["../styles/painting.png"]


@pytest.mark.parametrize("fields, status, needle", [
    ({"name": "fg", "matte": "../secret.png"}, 400, "leaves the project"),
    ({"name": "fg", "matte": "mattes/none.png"}, 404, "does not exist"),
    ({"name": "fg", "matte": "looks/hero.look.toml"}, 400, "not an image"),
    ({"name": "fg", "matte": "mattes/fg.png", "channel": "Z"}, 422, "channel"),
    ({"name": "fg", "matte": "mattes/fg.png", "u": 99}, 422, "u must lie between"),
])
def test_bad_regions_are_one_sentence_and_leave_the_look_alone(client: TestClient, project: Path, fields: dict,
                                                               status: int, needle: str) -> None:
    before = (project / "looks" / "hero.look.toml").read_text()
    r = client.post("/api/look/region", json={"look": "looks/hero.look.toml", **fields})
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"] and "\n" not in r.json()["detail"]
    assert (project / "looks" / "hero.look.toml").read_text() == before


def test_a_second_region_of_the_same_name_is_refused(client: TestClient) -> None:
    _add(client, name="fg", matte="mattes/fg.png")
    r = client.post("/api/look/region", json={"look": "looks/hero.look.toml", "name": "fg", "matte": "mattes/fg.png"})
    assert r.status_code == 422 and "named 'fg'" in r.json()["detail"]


def test_overlay_is_the_matte_coloured_over_the_plate(client: TestClient, tmp_path: Path) -> None:
    r = client.get("/api/regions/overlay.png?look=looks/hero.look.toml&content=plates/plate.png&max=48")
    assert r.status_code == 422 and "no regions" in r.json()["detail"]
    _add(client, name="fg", matte="mattes/fg.png", u=2)
    r = client.get("/api/regions/overlay.png?look=looks/hero.look.toml&content=plates/plate.png&max=48")
    assert r.status_code == 200 and r.content.startswith(PNG_MAGIC)
    (tmp_path / "overlay.png").write_bytes(r.content)
    alpha = read_matte(tmp_path / "overlay.png", channel="A")
    assert alpha.shape == (48, 48)
    assert alpha[:, :20].min() > 0.4 and alpha[:, 28:].max() < 0.05  # semi-transparent over the matte, clear off it
    assert alpha.max() < 0.9
    assert client.get("/api/regions/overlay.png?look=looks/hero.look.toml&content=../secret.png").status_code == 400


def _preview(client: TestClient, look: dict) -> dict:
    body = {"content": "plates/plate.png", "styles": ["styles/painting.png"], "preview_size": 48,
            "look": {"iterations": 2, "seed": 3, "size": 48, "u": 6, **look}}
    r = client.post("/api/preview", json=body)
    assert r.status_code == 200, r.text
    job = r.json()
    client.app.state.queue.wait_finished(client.app.state.queue.get(job["id"]), timeout=300)
    return client.get(f"/api/jobs/{job['id']}").json()


def test_previews_render_with_the_regions_and_their_u(client: TestClient, project: Path) -> None:
    plain = _preview(client, {})
    fg2 = _preview(client, {"regions": [{"name": "fg", "matte": "mattes/fg.png", "u": 2}]})
    fg4 = _preview(client, {"regions": [{"name": "fg", "matte": "mattes/fg.png", "u": 4}]})
    assert plain["state"] == fg2["state"] == fg4["state"] == "done", (fg2.get("error"), fg4.get("error"))
    assert len({plain["key"], fg2["key"], fg4["key"]}) == 3  # the region's u is part of the look
    (region,) = fg2["result"]["look"]["regions"]
    assert region["u"] == 2 and Path(region["matte"]) == (project / "mattes" / "fg.png").resolve()
    pics = [client.get(j["result"]["image"]).content for j in (plain, fg2, fg4)]
    assert len(set(pics)) == 3
    # A changed matte is another preview, even under the same name and u.
    matte = np.zeros((64, 64, 3), np.float32)
    matte[:, 32:] = 1.0
    write_image(project / "mattes" / "fg.png", matte)
    again = _preview(client, {"regions": [{"name": "fg", "matte": "mattes/fg.png", "u": 2}]})
    assert again["key"] != fg2["key"] and not again["cached"]
    bad = client.post("/api/preview", json={"content": "plates/plate.png", "styles": ["styles/painting.png"],
                                            "look": {"regions": [{"matte": "../secret.png"}]}})
    assert bad.status_code == 400 and "leaves the project" in bad.json()["detail"]


def test_saving_the_page_look_keeps_regions_relative_to_the_file(client: TestClient, project: Path) -> None:
    body = {"path": "looks/sub/two.look.toml", "content": "plates/plate.png", "styles": ["styles/painting.png"],
            "look": {"u": 5, "regions": [{"name": "fg", "matte": "mattes/fg.png", "u": 2.5, "feather": 2}]}}
    r = client.post("/api/looks", json=body)
    assert r.status_code == 200, r.text
    saved = load_look(project / "looks" / "sub" / "two.look.toml")
    assert saved.look.regions[0].matte == "../../mattes/fg.png" and saved.look.regions[0].u == 2.5
    back = client.get("/api/look?path=looks/sub/two.look.toml").json()
    assert back["look"]["regions"][0]["matte"] == "mattes/fg.png"


# ------------------------------------------------------------------------------------------------ Chromium


def test_region_slider_and_overlay_in_chromium(tmp_path: Path, content_rgb: np.ndarray, style_rgb: np.ndarray) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    from tests.test_studio_browser import studio_in_chromium

    root = _folder(tmp_path / "cs010", content_rgb, style_rgb)
    lf = load_look(root / "looks" / "hero.look.toml")
    lf.look.regions = [{"name": "fg", "matte": "../mattes/fg.png", "u": 2.0, "feather": 2}]
    save_look(root / "looks" / "hero.look.toml", lf)
    with studio_in_chromium(root) as (url, browser):
        _drive(sync_api, browser.new_page(), url, root, tmp_path)


def _drive(sync_api, page, url: str, root: Path, shots: Path) -> None:
    expect = sync_api.expect
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    bodies: list[dict] = []
    page.on("request", lambda req: bodies.append(json.loads(req.post_data)) if req.url.endswith("/api/preview") else None)
    page.goto(f"{url}?preview=48&look=looks/hero.look.toml")
    expect(page.locator("#region-matte option[value='mattes/fg.png']")).to_have_count(1, timeout=30_000)
    expect(page.locator("#styles input[value='mattes/fg.png']")).to_have_count(0)
    slider = page.locator("#region-sliders input[data-region=fg]")
    expect(slider).to_have_value("2", timeout=30_000)
    page.wait_for_selector("#preview[data-state=done]", timeout=120_000)
    assert bodies and bodies[-1]["look"]["regions"][0]["u"] == 2
    assert bodies[-1]["look"]["regions"][0]["matte"] == "mattes/fg.png"
    # Move the region's u with the keyboard, as a user would: two steps of 0.25.
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#region-sliders label.region-u output")).to_have_text("2.5")
    for _ in range(60):  # the preview request follows the slider after a short pause
        if any(b["look"].get("regions", [{}])[0].get("u") == 2.5 for b in bodies):
            break
        page.wait_for_timeout(250)
    assert bodies[-1]["look"]["regions"][0]["u"] == 2.5, bodies
    assert bodies[-1]["look"]["u"] == 6  # the look's own u stays where it was
    # The mattes over the picture: shown when ticked, gone when not.
    overlay = page.locator("#overlay")
    assert overlay.is_hidden()
    page.check("#overlay-toggle")
    expect(overlay).to_be_visible(timeout=30_000)
    assert page.evaluate("document.getElementById('overlay').naturalWidth") == 48
    page.screenshot(path=str(shots / "regions_overlay.png"), full_page=True)
    page.uncheck("#overlay-toggle")
    expect(overlay).to_be_hidden()
    # Add a region from the page: it is saved into the look file and gets its own slider.
    page.click("#add-region summary")
    page.select_option("#region-matte", "mattes/fg.png")
    page.fill("#region-name", "bg")
    page.fill("#region-u", "5")
    page.check("#region-invert")
    page.click("#region-add")
    expect(page.locator("#region-sliders input[data-region=bg]")).to_have_value("5", timeout=30_000)
    expect(page.locator("#region-sliders input[data-region=fg]")).to_have_value("2.5")  # moved before: kept
    saved = load_look(root / "looks" / "hero.look.toml").look.regions
    assert [(r.name, r.u, r.invert) for r in saved] == [("fg", 2.0, False), ("bg", 5.0, True)]
    assert not errors, errors


def test_matte_sequences_follow_the_plate_frame(client: TestClient, project: Path, content_rgb: np.ndarray) -> None:
    """A shot's matte sequence in a look: the preview and the overlay of plate frame 1001 use matte frame 1001."""
    write_image(project / "plates" / "cs010.1001.png", content_rgb[:64, :64])
    matte = np.zeros((64, 64, 3), np.float32)
    matte[:, 32:] = 1.0  # frame 1001: the right half
    write_image(project / "mattes" / "fg.1001.png", matte)
    region = {"name": "fg", "matte": "mattes/fg.####.png", "u": 2}
    body = {"content": "plates/cs010.1001.png", "styles": ["styles/painting.png"], "preview_size": 48,
            "look": {"iterations": 2, "seed": 3, "size": 48, "regions": [region]}}
    r = client.post("/api/preview", json=body)
    assert r.status_code == 200, r.text
    job = client.app.state.queue.get(r.json()["id"])
    client.app.state.queue.wait_finished(job, timeout=300)
    done = client.get(f"/api/jobs/{job.id}").json()
    assert done["state"] == "done", done["error"]
    assert Path(done["result"]["look"]["regions"][0]["matte"]).name == "fg.1001.png"
    r = client.post("/api/preview", json=body | {"content": "plates/plate.png"})
    assert r.status_code == 422 and "numbered plate frame" in r.json()["detail"]
    _add(client, name="fg", matte="mattes/fg.####.png", u=2)
    r = client.get("/api/regions/overlay.png?look=looks/hero.look.toml&content=plates/cs010.1001.png&max=48")
    assert r.status_code == 200, r.text
    (project.parent / "seq_overlay.png").write_bytes(r.content)
    alpha = read_matte(project.parent / "seq_overlay.png", channel="A")
    assert alpha[:, 28:].min() > 0.4 and alpha[:, :20].max() < 0.05
