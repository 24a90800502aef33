"""The studio's HTTP API on a tiny project folder: previews, cache, cancellation, paths, uploads, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from impasto.io.images import read_image, write_image
from impasto.look import load_look

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CAP = 64 * 1024


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, content_rgb: np.ndarray, style_rgb: np.ndarray) -> Path:
    base = tmp_path_factory.mktemp("studio")
    root = base / "cs010"
    root.mkdir()
    (root / "styles").mkdir()
    write_image(root / "plate.png", content_rgb[:64, :64])
    write_image(root / "styles" / "painting.png", style_rgb)
    # Outside the project: a secret a symlink inside points at.
    write_image(base / "secret.png", content_rgb)
    (base / "secret.look.toml").write_text("[look]\nu = 3.0\n")
    os.symlink(base / "secret.png", root / "link.png")
    os.symlink(base, root / "escape")
    return root


@pytest.fixture(scope="module")
def client(project: Path):
    from impasto.studio.app import create_app

    app = create_app(project, device="cpu", max_upload_bytes=CAP)
    with TestClient(app) as c:
        yield c


def _preview(client: TestClient, **look) -> dict:
    body = {"content": "plate.png", "styles": ["styles/painting.png"], "preview_size": 48,
            "look": {"iterations": 4, "seed": 3, **look}}
    r = client.post("/api/preview", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _events(client: TestClient, job_id: str, route: str = "/api/jobs") -> list[tuple[str, dict]]:
    out, kind = [], None
    with client.stream("GET", f"{route}/{job_id}/events") as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        for line in s.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                out.append((kind, json.loads(line[6:])))
    return out


def test_project_lists_images_looks_and_skips_outside_links(client: TestClient, project: Path) -> None:
    p = client.get("/api/project").json()
    paths = {im["path"] for im in p["images"]}
    assert paths == {"plate.png", "styles/painting.png"}  # link.png points outside: not offered
    plate = next(im for im in p["images"] if im["path"] == "plate.png")
    assert (plate["width"], plate["height"]) == (64, 64)
    # Told apart by folder, not by name: the loose plate.png is not assumed to be a plate.
    assert {im["path"]: im["role"] for im in p["images"]} == {"plate.png": None, "styles/painting.png": "style"}
    assert p["device"] == "cpu"


def test_preview_job_lifecycle_snapshots_and_cache(client: TestClient) -> None:
    queue = client.app.state.queue
    before = queue.renders
    job = _preview(client, u=4.0)
    assert job["state"] in ("queued", "running") and not job["cached"]
    events = _events(client, job["id"])
    kinds = [k for k, _ in events]
    assert kinds[-1] == "done"
    assert "progress" in kinds and "snapshot" in kinds  # shown progressively as it renders
    snap = next(d for k, d in events if k == "snapshot")
    assert 0 < snap["snapshot_iteration"] < 4
    done = events[-1][1]
    assert done["iteration"] == 4 and done["result"]["width"] == 48
    assert queue.renders == before + 1

    img = client.get(done["result"]["image"])
    assert img.status_code == 200 and img.content.startswith(PNG_MAGIC)
    assert client.get(f"/api/jobs/{job['id']}/image").content == img.content

    # The same look again (the slider moved back): answered from the cache, nothing rendered.
    again = _preview(client, u=4.0)
    assert again["state"] == "done" and again["cached"] and again["key"] == job["key"]
    assert queue.renders == before + 1
    assert client.get(again["result"]["image"]).content == img.content
    # Another u is another look: a new key.
    other = _preview(client, u=4.25, iterations=2, optimizer="adam")
    assert other["key"] != job["key"]
    assert _events(client, other["id"])[-1][0] == "done"
    assert queue.renders == before + 2


def test_moving_on_cancels_the_running_preview(client: TestClient) -> None:
    queue = client.app.state.queue
    # Adam: one network evaluation per iteration, so the cancellation lands quickly.
    slow = _preview(client, u=2.0, iterations=2000, optimizer="adam")
    deadline = time.time() + 30
    while client.get(f"/api/jobs/{slow['id']}").json()["iteration"] < 1 and time.time() < deadline:
        time.sleep(0.05)
    quick = _preview(client, u=2.5, iterations=3, optimizer="adam")  # the slider moved on: same page, newer wish
    assert _events(client, quick["id"])[-1][0] == "done"
    final = client.get(f"/api/jobs/{slow['id']}").json()
    assert final["state"] == "cancelled" and final["iteration"] < 2000
    assert queue.cache.get(slow["key"]) is None
    # DELETE cancels too; a cancelled job stays cancelled.
    r = client.delete(f"/api/jobs/{slow['id']}")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert client.get("/api/jobs/nope").status_code == 404


def test_failed_render_reports_the_engines_sentence(client: TestClient, project: Path) -> None:
    broken = project / "styles" / "broken.png"
    broken.write_bytes(b"not a png")
    try:
        r = client.post("/api/preview", json={"content": "plate.png", "styles": ["styles/broken.png"], "preview_size": 48,
                                              "look": {"iterations": 2, "seed": 1}})
        assert r.status_code == 200
        kind, last = _events(client, r.json()["id"])[-1]
    finally:
        broken.unlink()
    assert kind == "failed" and "broken.png" in last["error"] and "Traceback" not in last["error"]
    assert last["error"].endswith(".")


TRAVERSALS = [
    ("../secret.png", 400),
    ("..%2Fsecret.png", 400),
    ("%2e%2e/secret.png", 400),
    ("%252e%252e%252fsecret.png", 400),
    ("styles/../../secret.png", 400),
    ("/etc/passwd", 400),
    ("%2Fetc%2Fpasswd", 400),
    ("~/x.png", 400),
    ("C:/x.png", 400),
    ("..\\secret.png", 400),
    ("link.png", 403),
    ("escape/secret.png", 403),
    ("plate.png%00.txt", 400),
]


@pytest.mark.parametrize("path,status", TRAVERSALS)
def test_path_traversal_is_refused(client: TestClient, path: str, status: int) -> None:
    # Written into the URL as is, so percent-encodings reach the server encoded.
    for endpoint in ("/api/image", "/api/style-check", "/api/file", "/api/look"):
        r = client.get(f"{endpoint}?path={path}")
        assert r.status_code == status, (endpoint, path, r.status_code, r.text)
        assert not r.content.startswith(PNG_MAGIC) and "[look]" not in r.text
        assert isinstance(r.json()["detail"], str)


def test_traversal_in_bodies_and_writes(client: TestClient, project: Path) -> None:
    base = project.parent
    r = client.post("/api/preview", json={"content": "../secret.png", "styles": ["styles/painting.png"]})
    assert r.status_code == 400
    r = client.post("/api/preview", json={"content": "plate.png", "styles": ["link.png"]})
    assert r.status_code == 403
    r = client.post("/api/preview", json={"content": "plate.png", "styles": ["styles/painting.png"],
                                          "look": {"init": "/etc/passwd"}})
    assert r.status_code == 400
    for target, status in [("../evil.look.toml", 400), ("escape/evil.look.toml", 403), ("/tmp/evil.look.toml", 400)]:
        r = client.post("/api/looks", json={"path": target, "content": "plate.png", "styles": ["styles/painting.png"]})
        assert r.status_code == status, (target, r.text)
    assert not (base / "evil.look.toml").exists()
    r = client.put("/api/upload?name=x.png&folder=../", content=(project / "plate.png").read_bytes())
    assert r.status_code == 400
    r = client.put("/api/upload?name=x.png&folder=escape", content=(project / "plate.png").read_bytes())
    assert r.status_code == 403
    assert not (base / "x.png").exists()
    assert client.get("/api/sweep?path=escape").status_code == 403


def test_uploads_are_capped_decoded_and_kept_inside(client: TestClient, project: Path) -> None:
    good = (project / "plate.png").read_bytes()
    r = client.put("/api/upload?name=new painting.png", content=good)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["path"] == "styles/new painting.png" and (out["width"], out["height"]) == (64, 64)
    np.testing.assert_allclose(read_image(project / out["path"]), read_image(project / "plate.png"))
    # A second upload of the same name does not overwrite the first.
    assert client.put("/api/upload?name=new painting.png", content=good).json()["path"] == "styles/new painting-1.png"

    before = sorted(p.name for p in (project / "styles").iterdir())
    big = client.put("/api/upload?name=huge.png", content=b"\0" * (CAP + 1))
    assert big.status_code == 413 and "MiB" in big.json()["detail"]
    fake = client.put("/api/upload?name=fake.png", content=b"this is not an image at all" * 10)
    assert fake.status_code == 415 and "not an image" in fake.json()["detail"]
    assert client.put("/api/upload?name=empty.png", content=b"").status_code == 400
    # A small file that declares a huge picture is refused from its header, before decoding.
    write_image(project.parent / "wide.png", np.zeros((1, 16385, 3), np.float32))
    wide = client.put("/api/upload?name=wide.png", content=(project.parent / "wide.png").read_bytes())
    assert wide.status_code == 413 and "16385×1 px" in wide.json()["detail"]
    for name in ("script.sh", "x.exe", "../up.png", ".hidden.png", "a/b.png"):
        assert client.put(f"/api/upload?name={name}", content=good).status_code == 400, name
    # Nothing half-written is left behind, not even the temporary files.
    assert sorted(p.name for p in (project / "styles").iterdir()) == before


def test_uploads_without_hard_links_claim_the_name_and_never_overwrite(client: TestClient, project: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from impasto.studio import uploads

    def no_links(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")  # FAT, some network shares

    monkeypatch.setattr(uploads.os, "link", no_links)
    good = (project / "plate.png").read_bytes()
    before = {p.name for p in (project / "styles").iterdir()}
    first = client.put("/api/upload?name=nolink.png", content=good)
    second = client.put("/api/upload?name=nolink.png", content=good)
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    assert (first.json()["path"], second.json()["path"]) == ("styles/nolink.png", "styles/nolink-1.png")
    assert (project / "styles" / "nolink.png").read_bytes() == good == (project / "styles" / "nolink-1.png").read_bytes()
    assert {p.name for p in (project / "styles").iterdir()} - before == {"nolink.png", "nolink-1.png"}  # no temporaries
    for name in ("nolink.png", "nolink-1.png"):
        (project / "styles" / name).unlink()


def test_the_page_and_its_static_files(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert client.get("/static/studio.js").status_code == 200


@pytest.mark.parametrize("body,needle", [
    ({"look": {"u": 100}}, "look.u"),
    ({"look": {"u": "lots"}}, "look.u"),
    ({"look": {"iterations": 0}}, "look.iterations"),
    ({"look": {"unrealness": 3}}, "look.unrealness"),
    ({"look": {"network": "resnet"}}, "look.network"),
    ({"preview_size": 5}, "preview_size"),
    ({"styles": []}, "styles"),
    ({"client": "../x"}, "client"),
    ({"content": None}, "content"),
    ({"look": {"style_weights": [1, 2]}}, "style_weights"),
])
def test_bad_parameters_are_422_with_a_sentence(client: TestClient, body: dict, needle: str) -> None:
    full = {"content": "plate.png", "styles": ["styles/painting.png"], "look": {"iterations": 2}} | body
    r = client.post("/api/preview", json=full)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and needle in detail and detail.endswith(".")


def test_bad_query_parameters_are_422(client: TestClient) -> None:
    r = client.get("/api/style-check?path=styles/painting.png&final_size=big")
    assert r.status_code == 422 and "final_size" in r.json()["detail"]
    assert client.get("/api/image?path=plate.png&max=1").status_code == 422
    r = client.get("/api/look?path=plate.png")
    assert r.status_code == 422 and "plate.png" in r.json()["detail"]  # not a look file: load_look's sentence


def test_style_check_is_the_core_report(client: TestClient, project: Path) -> None:
    from impasto.lookdev.style_image import check_style_image

    r = client.get("/api/style-check?path=styles/painting.png&final_size=1024")
    assert r.status_code == 200
    data = r.json()
    core = check_style_image(project / "styles" / "painting.png", final_size=1024)
    assert [d["name"] for d in data["diagnostics"]] == [d.name for d in core.diagnostics]
    assert data["warnings"] == core.warnings and any("long edge" in w for w in data["warnings"])
    assert data["image"] == "styles/painting.png"


def test_save_look_round_trip(client: TestClient, project: Path) -> None:
    body = {"path": "looks/hero.look.toml", "content": "plate.png", "styles": ["styles/painting.png"],
            "look": {"u": 4.75, "iterations": 120, "size": 1024, "seed": 7}}
    r = client.post("/api/looks", json=body)
    assert r.status_code == 200, r.text
    saved = load_look(project / "looks" / "hero.look.toml")
    assert (saved.look.u, saved.look.iterations, saved.look.size, saved.look.seed) == (4.75, 120, 1024, 7)
    # Paths relative to the look file, so the folder can move and a shot file can use it.
    assert (project / "looks" / saved.content).resolve() == (project / "plate.png").resolve()
    assert client.post("/api/looks", json=body).status_code == 409
    assert client.post("/api/looks", json=body | {"overwrite": True}).status_code == 200
    back = client.get("/api/look?path=looks/hero.look.toml").json()
    assert back["content"] == "plate.png" and back["styles"] == ["styles/painting.png"] and back["look"]["u"] == 4.75
    listed = client.get("/api/project").json()["looks"]
    assert any(item["path"] == "looks/hero.look.toml" for item in listed)
    r = client.post("/api/looks", json=body | {"path": "looks/hero.txt"})
    assert r.status_code == 422 and ".toml" in r.json()["detail"]


def test_sweep_contact_sheet_cells_and_looks(client: TestClient, project: Path) -> None:
    from impasto.look import Look
    from impasto.lookdev.sweep import plan_sweep, run_sweep

    plan = plan_sweep(project / "plate.png", [project / "styles" / "painting.png"], project / "sweeps" / "u",
                      Look(size=32, iterations=2, seed=5), us=[3.0, 5.0])
    run_sweep(plan, device="cpu", thumb=32)
    p = client.get("/api/project").json()
    assert [s["path"] for s in p["sweeps"]] == ["sweeps/u"]
    assert not any(im["path"].startswith("sweeps/") for im in p["images"])  # cells are not offered as plates
    s = client.get("/api/sweep?path=sweeps/u").json()
    assert [(c["row"], c["col"], c["u"]) for c in s["cells"]] == [(0, 0, 3.0), (0, 1, 5.0)]
    assert s["sheet"] == "sweeps/u/contact_sheet.png"
    assert client.get(f"/api/file?path={s['sheet']}").content.startswith(PNG_MAGIC)
    cell = s["cells"][1]
    assert client.get(f"/api/file?path={cell['image']}").status_code == 200
    look = client.get(f"/api/look?path={cell['look']}").json()
    assert look["look"]["u"] == 5.0 and look["content"] == "plate.png" and look["styles"] == ["styles/painting.png"]


def test_shot_frames_with_status_and_thumbnails(client: TestClient, project: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from impasto.shot.setup import init_shot

    plates = project / "plates"
    plates.mkdir()
    rgb = read_image(project / "plate.png")
    for n in (1001, 1002):
        write_image(plates / f"cs010.{n}.png", rgb)
    monkeypatch.chdir(project)
    init_shot("cs010", "plates/cs010.####.png", "1001-1003", shot_file="cs010.toml", styles=["styles/painting.png"])
    p = client.get("/api/project").json()
    assert [s["path"] for s in p["shots"]] == ["cs010.toml"]
    assert {"plates/cs010.1001.png", "plates/cs010.1002.png"} <= {im["path"] for im in p["images"]}
    s = client.get("/api/shot?path=cs010.toml").json()
    assert [(f["frame"], f["state"], f["plate_missing"]) for f in s["frames"]] == [
        (1001, "missing", False), (1002, "missing", False), (1003, "no-plate", True)]
    assert s["counts"]["plate_missing"] == 1 and s["counts"]["damaged"] == 0
    thumb = client.get("/api/shot/thumb?path=cs010.toml&frame=1001&kind=plate")
    assert thumb.status_code == 200 and thumb.content.startswith(PNG_MAGIC)
    assert client.get("/api/shot/thumb?path=cs010.toml&frame=1001&kind=paint").status_code == 404
    assert client.get("/api/shot/thumb?path=cs010.toml&frame=7&kind=plate").status_code == 404


def test_cli_studio_prints_address_and_warns_on_open_host(project: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "impasto", "studio", str(project), "--port", "0", "--host", "0.0.0.0",
                             "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line and str(project) in line
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        import httpx

        r = httpx.get(f"http://127.0.0.1:{port}/api/project", timeout=30)
        assert r.status_code == 200 and r.json()["root"] == "cs010"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "warning" in err and "0.0.0.0" in err


def test_cli_studio_bad_folder_is_one_sentence(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from impasto.cli import app

    r = CliRunner().invoke(app, ["studio", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "does not exist" in r.output and "Traceback" not in r.output


def test_only_local_host_names_when_listening_locally(project: Path) -> None:
    from impasto.studio.app import create_app

    app = create_app(project, device="cpu", allowed_hosts=["127.0.0.1", "localhost"])
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        assert c.get("/api/project").status_code == 200
        # A page on another site reaching 127.0.0.1 through DNS rebinding still sends its own host name.
        assert c.get("/api/project", headers={"host": "evil.example:8765"}).status_code == 400


# ------------------------------------------------------------------------------------------------ fast models


@pytest.fixture(scope="module")
def fast_project(tmp_path_factory: pytest.TempPathFactory, content_rgb: np.ndarray, style_rgb: np.ndarray):
    """A folder with a plate, a painting, a look file and a tiny fast model trained for that look (a few steps)."""
    from impasto.fast import TrainSettings, train
    from impasto.look import Look, LookFile, save_look

    base = tmp_path_factory.mktemp("studio-fast")
    root = base / "cs020"
    (root / "styles").mkdir(parents=True)
    write_image(root / "plate.png", content_rgb[:48, :64])
    write_image(root / "styles" / "painting.png", style_rgb)
    look = Look(size=64, u=4.0)
    save_look(root / "hero.toml", LookFile(look=look, content="plate.png", styles=["styles/painting.png"]))
    # Trained on the style as the look file reads it, so the model is the look's (same style identity).
    style = read_image(root / "styles" / "painting.png")
    settings = TrainSettings(u_range=(2.0, 6.0), steps=3, batch=1, crop=32, lr=1e-2, preset="tiny", device="cpu",
                             checkpoint_every=1000, general_fraction=0.0)
    train(look, [style], [content_rgb], root / "hero.fast.pt", settings, general=[], resume=False)
    (root / "models").mkdir()
    (root / "models" / "other.pt").write_bytes(b"not a model")
    write_image(base / "outside.png", content_rgb)
    (base / "stolen.pt").write_bytes((root / "hero.fast.pt").read_bytes())  # a real model, but outside
    (base / "secret.toml").write_text((root / "hero.toml").read_text())
    (root / "hero.fast.pt").with_name("outside.pt").symlink_to(base / "nowhere.pt")  # dangling: never listed
    os.symlink(base, root / "escape")
    return root


@pytest.fixture(scope="module")
def fast_client(fast_project: Path):
    from impasto.studio.app import create_app

    with TestClient(create_app(fast_project, device="cpu")) as c:
        yield c


def test_fast_models_are_listed_and_found_for_a_look(fast_client: TestClient) -> None:
    p = fast_client.get("/api/project").json()
    assert {m["path"] for m in p["fast_models"]} == {"hero.fast.pt", "models/other.pt"}
    found = fast_client.get("/api/fast-model?look=hero.toml").json()
    assert found["model"] == "hero.fast.pt" and found["u_range"] == [2.0, 6.0] and found["size"] == 64
    named = fast_client.get("/api/fast-model?model=hero.fast.pt").json()
    assert named["u_range"] == [2.0, 6.0]
    # A look with another style has no fast model here.
    from impasto.look import Look, LookFile, save_look

    save_look(fast_client.app.state.root / "other.toml",
              LookFile(look=Look(size=64, style_scale=2.0), content="plate.png", styles=["styles/painting.png"]))
    assert fast_client.get("/api/fast-model?look=other.toml").json()["model"] is None
    r = fast_client.get("/api/fast-model?model=models/other.pt")
    assert r.status_code == 422 and "not a readable impasto fast model" in r.json()["detail"]
    r = fast_client.get("/api/fast-model")
    assert r.status_code == 400 and "either look" in r.json()["detail"]


def test_fast_preview_is_a_png_of_the_preview_size_and_moves_with_u(fast_client: TestClient) -> None:
    def paint(u: float, size: int) -> np.ndarray:
        r = fast_client.get(f"/api/fast-preview.png?model=hero.fast.pt&content=plate.png&u={u}&preview_size={size}")
        assert r.status_code == 200, r.text
        assert r.content.startswith(PNG_MAGIC) and r.headers["x-impasto-source"] == "fast"
        return _png(r.content)

    low, high = paint(2.0, 64), paint(6.0, 64)
    assert low.shape == (48, 64, 3) and high.shape == (48, 64, 3)  # the plate's aspect at the preview's long edge
    assert not np.allclose(low, high, atol=1e-3)
    np.testing.assert_array_equal(paint(2.0, 64), low)  # same u, same picture (the cached encoding reused)
    assert paint(3.3, 96).shape == (72, 96, 3)


def test_fast_preview_u_outside_the_range_is_a_sentence(fast_client: TestClient) -> None:
    for u in ("7.5", "1"):
        r = fast_client.get(f"/api/fast-preview.png?model=hero.fast.pt&content=plate.png&u={u}")
        assert r.status_code == 422 and "outside this model's trained range 2 to 6" in r.json()["detail"], r.text
    for u in ("nan", "inf", "abc"):
        r = fast_client.get(f"/api/fast-preview.png?model=hero.fast.pt&content=plate.png&u={u}")
        assert r.status_code == 422 and r.json()["detail"].startswith("Invalid u"), r.text
    r = fast_client.get("/api/fast-preview.png?model=plate.png&content=plate.png&u=3")
    assert r.status_code == 400 and "not a fast model" in r.json()["detail"]
    r = fast_client.get("/api/fast-preview.png?model=hero.toml&content=hero.fast.pt&u=3")
    assert r.status_code == 400


@pytest.mark.parametrize("query", [
    "model=../cs020/hero.fast.pt&content=plate.png&u=3",
    "model=%2e%2e%2fcs020/hero.fast.pt&content=plate.png&u=3",
    "model=hero.fast.pt&content=../outside.png&u=3",
    "model=hero.fast.pt&content=escape/outside.png&u=3",
    "model=escape/stolen.pt&content=plate.png&u=3",
    "model=../stolen.pt&content=plate.png&u=3",
    "model=/etc/passwd&content=plate.png&u=3",
    "model=outside.pt&content=plate.png&u=3",
])
def test_fast_preview_traversal_is_refused(fast_client: TestClient, query: str) -> None:
    r = fast_client.get(f"/api/fast-preview.png?{query}")
    assert r.status_code in (400, 403, 404), (query, r.status_code)
    assert not r.content.startswith(PNG_MAGIC) and isinstance(r.json()["detail"], str)
    model = query.split("&")[0].split("=", 1)[1]
    if model != "hero.fast.pt":
        r = fast_client.get(f"/api/fast-model?model={model}")
        assert r.status_code in (400, 403, 404) and isinstance(r.json()["detail"], str)
    assert fast_client.get("/api/fast-model?look=../secret.toml").status_code == 400
    assert fast_client.get("/api/fast-model?look=escape/secret.toml").status_code == 403


def _png(data: bytes) -> np.ndarray:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        f.write(data)
        f.flush()
        return read_image(f.name)


# ------------------------------------------------------------------------------------ the studio waits to be asked


def test_plates_and_paintings_are_told_apart_by_folder_and_shot_file(tmp_path: Path, content_rgb: np.ndarray,
                                                                     style_rgb: np.ndarray,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Never by file name: 'painting_plate.png' in plates/ is a plate, and a plate frame named like a style is one too."""
    from impasto.look import Look, LookFile, save_look
    from impasto.shot.setup import init_shot
    from impasto.studio.app import create_app

    root = tmp_path / "mm010"
    for folder in ("plates", "styles", "footage", "art"):
        (root / folder).mkdir(parents=True)
    write_image(root / "plates" / "style_painting.png", content_rgb[:32, :32])  # a misleading name
    write_image(root / "styles" / "plate_frame.png", style_rgb[:32, :32])
    for n in (1, 2):
        write_image(root / "footage" / f"art_style.{n:04d}.png", content_rgb[:32, :32])
    write_image(root / "art" / "oil.png", style_rgb[:32, :32])
    write_image(root / "art" / "sketch.png", style_rgb[:32, :32])
    write_image(root / "loose.png", content_rgb[:32, :32])
    save_look(root / "sketch.look.toml", LookFile(look=Look(u=3), content="footage/art_style.0002.png",
                                                  styles=["art/sketch.png"]))
    monkeypatch.chdir(root)
    init_shot("mm010", "footage/art_style.####.png", "1-2", shot_file="mm010.toml", styles=["art/oil.png"])
    with TestClient(create_app(root, device="cpu")) as c:
        images = {im["path"]: im for im in c.get("/api/project").json()["images"]}
        assert c.app.state.queue.renders == 0
    roles = {path: im["role"] for path, im in images.items()}
    assert roles == {
        "plates/style_painting.png": "plate", "styles/plate_frame.png": "style",
        "footage/art_style.0001.png": "plate", "footage/art_style.0002.png": "plate",  # the shot's plate
        "art/oil.png": "style",  # the shot's painting
        "art/sketch.png": "style",  # the look file's painting
        "loose.png": None,  # nothing says: offered as both, picked by nobody
    }
    assert images["art/oil.png"]["why"] == "a style image of mm010.toml"
    assert images["plates/style_painting.png"]["why"] == "in a plates/ folder"


def test_nothing_renders_until_the_artist_picks(tmp_path: Path, content_rgb: np.ndarray, style_rgb: np.ndarray) -> None:
    """Opening the page (the page, its script, the folder listing, the plate image) starts no render; the page
    has no guessing left and no picture element without a picture."""
    from impasto.studio.app import create_app

    root = tmp_path / "cs020"
    (root / "plates").mkdir(parents=True)
    (root / "styles").mkdir()
    write_image(root / "plates" / "plate.png", content_rgb[:48, :48])
    write_image(root / "styles" / "painting.png", style_rgb[:48, :48])
    with TestClient(create_app(root, device="cpu")) as c:
        page = c.get("/").text
        script = c.get("/static/studio.js").text
        assert c.get("/api/project").status_code == 200
        assert c.get("/api/image?path=plates/plate.png&max=64").status_code == 200
        time.sleep(0.3)
        queue = c.app.state.queue
        assert queue.renders == 0 and queue.get("j1") is None
    assert "guessPlate" not in script and "guessStyle" not in script
    assert "/(plate|frame|shot|content)/" not in script and "/(style|paint|canvas|art)/" not in script
    # Before the first snapshot the preview, wipe and side-by-side pictures are hidden (no broken-image icon).
    for img in ("preview", "wipe-a", "wipe-b", "sbs-a", "sbs-b"):
        tag = page[page.index(f'<img id="{img}"'):]
        tag = tag[:tag.index(">")]
        assert " hidden" in tag and "src=" not in tag, tag
    assert 'id="preview-empty"' in page and "nothing renders until you do" in page


def test_the_preview_cache_survives_a_restart(tmp_path: Path, content_rgb: np.ndarray, style_rgb: np.ndarray) -> None:
    from impasto.studio.app import create_app

    root = tmp_path / "cs030"
    (root / "plates").mkdir(parents=True)
    (root / "styles").mkdir()
    write_image(root / "plates" / "plate.png", content_rgb[:48, :48])
    write_image(root / "styles" / "painting.png", style_rgb[:48, :48])
    body = {"content": "plates/plate.png", "styles": ["styles/painting.png"], "preview_size": 40,
            "look": {"iterations": 2, "seed": 5, "u": 3.0}}
    with TestClient(create_app(root, device="cpu")) as c:
        job = c.post("/api/preview", json=body).json()
        done = _events(c, job["id"])[-1][1]
        assert done["state"] == "done"
        first = c.get(done["result"]["image"]).content
    folder = root / ".impasto" / "previews"
    assert sorted(p.name for p in folder.iterdir()) == [f"{job['key']}.json", f"{job['key']}.png"]

    with TestClient(create_app(root, device="cpu")) as c:  # a new studio on the same folder
        assert c.get(f"/api/previews/{job['key']}.png").content == first
        again = c.post("/api/preview", json=body).json()
        assert again["state"] == "done" and again["cached"] and again["key"] == job["key"]
        assert again["result"]["width"] == done["result"]["width"] and again["result"]["look"]["u"] == 3.0
        assert c.app.state.queue.renders == 0
        assert c.get(again["result"]["image"]).content == first
        # The cache folder is the studio's own: not listed as images, and keys are never paths.
        assert all(not im["path"].startswith(".impasto") for im in c.get("/api/project").json()["images"])
        assert c.get("/api/previews/..%2F..%2Fplates%2Fplate.png").status_code == 404


def test_a_damaged_or_unwritable_disk_cache_is_only_a_miss(tmp_path: Path) -> None:
    from impasto.studio.cache import Preview, PreviewCache

    item = Preview(key="ab" * 12, png=PNG_MAGIC + b"x", width=1, height=1, ratio=1.0, seconds=0.1,
                   weights_origin="w", device="cpu", loss=1.0, style_fraction=0.5, iterations=1, look={"u": 1.0})
    cache = PreviewCache(folder=tmp_path / "previews")
    cache.put(item)
    one = sum(p.stat().st_size for p in (tmp_path / "previews").iterdir())
    assert PreviewCache(folder=tmp_path / "previews").get(item.key) == item
    (tmp_path / "previews" / f"{item.key}.json").write_text("{ half")
    assert PreviewCache(folder=tmp_path / "previews").get(item.key) is None
    blocked = tmp_path / "file"
    blocked.write_text("")
    ro = PreviewCache(folder=blocked / "previews")  # a file where the folder should be
    ro.put(item)
    assert ro.get(item.key) == item and "memory only" in ro.disk_error
    # Past its budget the folder drops the least recently used previews, picture and record together.
    small = PreviewCache(folder=tmp_path / "small", disk_bytes=int(one * 1.5))
    small.put(item)
    for p in (tmp_path / "small").iterdir():
        os.utime(p, (1, 1))  # long unused
    small.put(Preview(**{**item.__dict__, "key": "cd" * 12}))
    assert sorted(p.name for p in (tmp_path / "small").iterdir()) == ["cd" * 12 + ".json", "cd" * 12 + ".png"]


def test_a_preview_says_when_its_u_changes_little_at_its_size(client: TestClient) -> None:
    """Measured once per plate, painting and size (u does not change it), answered with the preview."""
    queue = client.app.state.queue
    high = _preview(client, u=9.0, iterations=1)
    done = _events(client, high["id"])[-1][1]
    warning = done["result"]["warning"]
    assert warning.startswith("at 48 px u above") and "pick a larger preview size" in warning
    measured = len(queue.saturations._lru)
    low = _preview(client, u=-1.0, iterations=1)
    assert _events(client, low["id"])[-1][1]["result"]["warning"] is None
    assert len(queue.saturations._lru) == measured  # the same plate, painting and size: not measured again


# ------------------------------------------------------------------------------------------------ the learned painter


def _one_sentence(text: str) -> None:
    assert isinstance(text, str) and text.strip(), text
    assert "Traceback" not in text and "\n" not in text and text.rstrip().endswith("."), text


@pytest.fixture(scope="module")
def painter_project(tmp_path_factory: pytest.TempPathFactory, content_rgb: np.ndarray, style_rgb: np.ndarray) -> Path:
    """A folder with a tiny sweep of its plate at u 2, 3, 4 (48 px, 2 iterations), a copy of it, and folders the
    painter refuses: a sweep of two styles, one with no cells yet, one painted from a frame outside the folder."""
    import shutil

    from impasto.look import Look, LookFile, save_look
    from impasto.lookdev.sweep import MANIFEST, MANIFEST_VERSION, plan_sweep, run_sweep

    base = tmp_path_factory.mktemp("studio-painter")
    root = base / "cs030"
    (root / "plates").mkdir(parents=True)
    (root / "styles").mkdir()
    write_image(root / "plates" / "plate.png", content_rgb[:48, :64])
    write_image(root / "styles" / "painting.png", style_rgb[:64, :64])
    plan = plan_sweep(root / "plates" / "plate.png", [root / "styles" / "painting.png"], root / "sweeps" / "u",
                      Look(size=48, iterations=2, seed=0), us=[2.0, 3.0, 4.0])
    run_sweep(plan, device="cpu", thumb=32)
    for copy in ("v", "w"):
        shutil.copytree(root / "sweeps" / "u", root / "sweeps" / copy)

    def manifest(folder: Path, cells: dict) -> None:
        folder.mkdir(parents=True)
        (folder / MANIFEST).write_text(json.dumps({"impasto_sweep": MANIFEST_VERSION, "cells": cells}))

    manifest(root / "sweeps" / "two", {"a": {"style": "styles/a.png", "u": 2, "iterations": 2},
                                       "b": {"style": "styles/b.png", "u": 2, "iterations": 2}})
    manifest(root / "sweeps" / "empty", {})
    write_image(base / "outside.png", content_rgb[:48, :64])
    manifest(root / "sweeps" / "away", {"a": {"style": str(root / "styles" / "painting.png"), "u": 2, "iterations": 2,
                                              "look": "a.look.toml", "image": "a.png"}})
    save_look(root / "sweeps" / "away" / "a.look.toml", LookFile(look=Look(size=48), content=str(base / "outside.png"),
                                                                 styles=[str(root / "styles" / "painting.png")]))
    return root


@pytest.fixture(scope="module")
def painter_client(painter_project: Path):
    from impasto.fast.learn import LearnSettings
    from impasto.studio.app import create_app

    tiny = LearnSettings(steps=6, batch=2, patch=32, preset="learned-tiny", checkpoint_every=1000)
    with TestClient(create_app(painter_project, device="cpu", learn=tiny)) as c:
        yield c


def _painter_events(client: TestClient, job_id: str) -> list[tuple[str, dict]]:
    return _events(client, job_id, "/api/painter/jobs")


def test_a_sweeps_painter_learns_in_the_background_and_paints_the_slider(painter_client: TestClient) -> None:
    c = painter_client
    before = c.get("/api/painter?sweep=sweeps/u").json()
    assert before["model"] == "sweeps/u/painter.pt" and before["styles"] == ["painting.png"]
    assert not before["ready"] and before["job"] is None and not before["checkpoint"]
    job = c.post("/api/painter", json={"sweep": "sweeps/u"}).json()
    assert job["state"] in ("queued", "running") and job["cells"] == 3 and job["u_range"] == [2.0, 4.0]
    assert job["steps"] == 6  # the studio's learn settings, not LearnSettings()'s defaults
    events = _painter_events(c, job["id"])
    kinds = [k for k, _ in events]
    assert kinds[-1] == "done" and "progress" in kinds
    steps = [d for k, d in events if k == "progress" and d["step"]]
    assert steps and all(0 < d["step"] <= 6 and d["steps"] == 6 and d["loss"] is not None for d in steps)
    assert any(d["eta"] is not None and d["eta"] >= 0 for d in steps)  # a time left, shown beside the bar
    done = events[-1][1]
    assert done["step"] == 6 and done["ready"] and done["checkpoint"] and done["model"] == "sweeps/u/painter.pt"

    after = c.get("/api/painter?sweep=sweeps/u").json()
    assert after["ready"] and after["learned"] and after["u_range"] == [2.0, 4.0] and after["steps"] == 6
    assert after["job"]["id"] == job["id"]
    # An ordinary fast model file: listed, and the slider's picture comes from it, labelled as the painter's.
    assert "sweeps/u/painter.pt" in {m["path"] for m in c.get("/api/project").json()["fast_models"]}
    info = c.get("/api/fast-model?model=sweeps/u/painter.pt").json()
    assert info["learned"] and info["u_range"] == [2.0, 4.0] and isinstance(info["version"], int)
    r = c.get("/api/fast-preview.png?model=sweeps/u/painter.pt&content=plates/plate.png&u=3.25&preview_size=64")
    assert r.status_code == 200 and r.content.startswith(PNG_MAGIC), r.text
    assert r.headers["x-impasto-source"] == "learned" and r.headers["x-impasto-u-range"] == "2,4"
    assert _png(r.content).shape == (48, 64, 3)
    r = c.get("/api/fast-preview.png?model=sweeps/u/painter.pt&content=plates/plate.png&u=5")
    assert r.status_code == 422 and "outside this model's trained range 2 to 4" in r.json()["detail"]

    # Starting again resumes from the checkpoint: nothing left to learn, the same painter.
    again = c.post("/api/painter", json={"sweep": "sweeps/u"}).json()
    end = _painter_events(c, again["id"])[-1]
    assert end[0] == "done" and end[1]["resumed_from"] == 6 and end[1]["step"] == 6


def test_cancel_keeps_the_checkpoint_writes_no_painter_and_a_later_start_resumes(painter_client: TestClient,
                                                                                  painter_project: Path) -> None:
    c = painter_client
    folder = painter_project / "sweeps" / "v"
    job = c.post("/api/painter", json={"sweep": "sweeps/v", "steps": 100_000}).json()
    # The same painter asked for again while it learns: the same job, not a second one.
    assert c.post("/api/painter", json={"sweep": "sweeps/v"}).json()["id"] == job["id"]
    deadline = time.time() + 120
    while c.get(f"/api/painter/jobs/{job['id']}").json()["step"] < 2 and time.time() < deadline:
        time.sleep(0.05)
    running = c.get(f"/api/painter/jobs/{job['id']}").json()
    assert running["state"] == "running" and running["step"] >= 2 and running["eta"] > 0
    assert c.delete(f"/api/painter/jobs/{job['id']}").status_code == 200
    end = _painter_events(c, job["id"])[-1]
    assert end[0] == "cancelled" and end[1]["checkpoint"] and not end[1]["ready"]
    stopped = end[1]["step"]
    assert (folder / "painter.pt.ckpt").is_file() and not (folder / "painter.pt").exists()
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # no half-written file left
    status = c.get("/api/painter?sweep=sweeps/v").json()
    assert not status["ready"] and status["checkpoint"] and status["job"]["state"] == "cancelled"

    later = c.post("/api/painter", json={"sweep": "sweeps/v", "steps": stopped + 2}).json()
    done = _painter_events(c, later["id"])[-1]
    assert done[0] == "done" and done[1]["resumed_from"] == stopped and done[1]["step"] == stopped + 2
    assert (folder / "painter.pt").is_file()
    assert c.delete(f"/api/painter/jobs/{later['id']}").json()["state"] == "done"  # cancelling a finished job: no-op


def test_a_failed_learning_is_a_sentence_and_start_over_learns_from_scratch(painter_client: TestClient,
                                                                            painter_project: Path) -> None:
    c = painter_client
    (painter_project / "sweeps" / "w" / "painter.pt.ckpt").write_bytes(b"not a checkpoint")
    job = c.post("/api/painter", json={"sweep": "sweeps/w"}).json()
    kind, info = _painter_events(c, job["id"])[-1]
    assert kind == "failed" and "sweeps/w/painter.pt.ckpt" in info["error"]
    assert str(painter_project) not in info["error"]  # the folder's own names, not absolute paths
    _one_sentence(info["error"])
    fresh = c.post("/api/painter", json={"sweep": "sweeps/w", "fresh": True}).json()
    kind, info = _painter_events(c, fresh["id"])[-1]
    assert kind == "done" and info["resumed_from"] == 0 and info["ready"]


@pytest.mark.parametrize("body,status,words", [
    ({"sweep": "plates"}, 422, "is not a sweep folder"),
    ({"sweep": "sweeps/empty"}, 422, "has no finished cells yet"),
    ({"sweep": "sweeps/two"}, 422, "holds 2 styles (a.png, b.png); pick the one"),
    ({"sweep": "sweeps/two", "style": "c.png"}, 422, "has no style 'c.png'"),
    ({"sweep": "sweeps/two", "style": "b.png"}, 422, "has a damaged sweep.json"),
    ({"sweep": "sweeps/away"}, 422, "lies outside the project folder"),
    ({"sweep": "sweeps/nowhere"}, 404, "does not exist"),
    ({"sweep": "../cs030/sweeps/u"}, 400, "leaves the project folder"),
    ({"sweep": "sweeps/u", "steps": 0}, 422, "steps"),
    ({"sweep": "sweeps/u", "colour": "red"}, 422, "colour"),
])
def test_what_the_painter_refuses_is_one_sentence(painter_client: TestClient, body: dict, status: int,
                                                   words: str) -> None:
    r = painter_client.post("/api/painter", json=body)
    assert r.status_code == status and words in r.json()["detail"], r.text
    _one_sentence(r.json()["detail"])
    assert str(painter_client.app.state.root) not in r.json()["detail"]
    assert painter_client.get("/api/painter/jobs/p999").status_code == 404
