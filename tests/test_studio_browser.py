"""The studio in a real browser: Debian's Chromium, driven by Playwright, against `impasto studio` itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from impasto.io.images import write_image

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and os.path.isfile(p)), None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium at /usr/bin/chromium: install Debian's package (apt-get install -y chromium) to run the browser test",
)


@contextmanager
def studio_in_chromium(root: Path) -> Iterator[tuple[str, object]]:
    """`impasto studio root` in a subprocess and a headless Chromium: yields (its address, the browser)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("no Chromium at /usr/bin/chromium: install Debian's package (apt-get install -y chromium)")
    proc = subprocess.Popen([sys.executable, "-m", "impasto", "studio", str(root), "--port", "0", "--device", "cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, line
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                yield line.split(" at ")[1].split(" ")[0], browser
            finally:
                browser.close()
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.fixture()
def server(tmp_path: Path, content_rgb: np.ndarray, style_rgb: np.ndarray):
    """`impasto studio` on a folder with a plate (plates/) and a painting (styles/); yields its address."""
    pytest.importorskip("fastapi")
    root = tmp_path / "cs010"
    (root / "plates").mkdir(parents=True)
    (root / "styles").mkdir()
    write_image(root / "plates" / "plate.png", content_rgb[:64, :64])
    write_image(root / "styles" / "painting.png", style_rgb)
    proc = subprocess.Popen([sys.executable, "-m", "impasto", "studio", str(root), "--port", "0", "--device", "cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        yield root, line.split(" at ")[1].split(" ")[0]
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_slider_preview_wipe_and_save_in_chromium(server, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    from impasto.look import load_look

    root, url = server
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            asked: list[str] = []
            page.on("request", lambda req: asked.append(req.url) if "/api/preview" in req.url else None)
            # Tiny previews: 64 px, 3 iterations.
            page.goto(f"{url}?iterations=3&preview=64&seed=1")
            expect = sync_api.expect
            # The page waits to be asked: nothing picked, nothing rendered, no broken picture.
            expect(page.locator("#plate option[value='plates/plate.png']")).to_have_count(1, timeout=30_000)
            expect(page.locator("#plate")).to_have_value("")
            expect(page.locator("#styles input[value='styles/painting.png']")).not_to_be_checked()
            expect(page.locator("#styles input[value='plates/plate.png']")).to_have_count(0)  # a plate is no painting
            expect(page.locator("#preview-empty")).to_be_visible()
            assert page.locator("#preview").is_hidden()
            page.wait_for_timeout(1000)
            assert not asked, asked
            page.select_option("#plate", "plates/plate.png")
            page.check("#styles input[value='styles/painting.png']")
            page.wait_for_selector("#preview[data-state=done]", timeout=90_000)
            assert page.locator("#preview-empty").is_hidden()
            first = page.get_attribute("#preview", "data-key")
            assert page.evaluate("document.getElementById('preview').naturalWidth") == 64

            # Move the slider with the keyboard, as a user would: two steps of 0.25.
            page.focus("#u")
            page.keyboard.press("ArrowRight")
            page.keyboard.press("ArrowRight")
            expect(page.locator("#u-value")).to_have_text("4.5")
            page.wait_for_function(
                "k => { const i = document.getElementById('preview'); return i.dataset.state === 'done' && i.dataset.key !== k; }",
                arg=first, timeout=90_000)
            expect(page.locator("#status")).to_contain_text("u 4.5")
            assert int(page.get_attribute("#preview", "data-loaded")) >= 2

            # Wipe against the plate: drag the divider from the middle to a quarter.
            page.click("button.tab[data-view=wipe]")
            page.wait_for_function("document.getElementById('wipe-b').naturalWidth > 0", timeout=30_000)
            box = page.locator("#wipe-box").bounding_box()
            assert box and box["width"] > 100
            # Look and plate lie exactly on top of each other, so the wipe compares like with like.
            assert page.locator("#wipe-a").bounding_box() == page.locator("#wipe-b").bounding_box()
            assert page.locator("#sbs").is_hidden() and page.locator("#single").is_hidden()
            y = box["y"] + box["height"] / 2
            page.mouse.move(box["x"] + box["width"] * 0.5, y)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.35, y, steps=4)
            page.mouse.move(box["x"] + box["width"] * 0.25, y, steps=4)
            page.mouse.up()
            wipe = float(page.get_attribute("#wipe-box", "data-wipe"))
            assert 22 < wipe < 28
            assert "inset(0px 7" in page.evaluate("getComputedStyle(document.getElementById('wipe-a')).clipPath")

            # Save the look the page shows.
            page.fill("#look-name", "looks/hero.look.toml")
            page.click("#save-look")
            page.wait_for_function("document.getElementById('save-status').textContent.startsWith('saved')", timeout=30_000)
            saved = load_look(root / "looks" / "hero.look.toml")
            assert saved.look.u == 4.5 and saved.look.iterations == 3 and saved.look.seed == 1

            shot = tmp_path / "studio-test.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            assert not errors, errors
        finally:
            browser.close()


def test_fast_model_slider_in_chromium(server, content_rgb: np.ndarray, tmp_path: Path) -> None:
    """With a fast model for the look, dragging u shows the fast picture at once, and letting go renders the real look."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from impasto.fast import TrainSettings, train
    from impasto.io.images import read_image
    from impasto.look import Look, LookFile, save_look

    root, url = server
    look = Look(size=64, u=4.0, iterations=3, seed=1)
    save_look(root / "hero.toml", LookFile(look=look, content="plates/plate.png", styles=["styles/painting.png"]))
    train(look, [read_image(root / "styles" / "painting.png")], [content_rgb], root / "hero.fast.pt",
          TrainSettings(u_range=(2.0, 6.0), steps=3, batch=1, crop=32, preset="tiny", device="cpu",
                        checkpoint_every=1000, general_fraction=0.0), general=[], resume=False)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{url}?preview=64&look=hero.toml")
            sync_api.expect(page.locator("#fast-model")).to_have_value("hero.fast.pt", timeout=60_000)
            page.wait_for_selector("#preview[data-state=done]", timeout=90_000)
            page.focus("#u")
            page.keyboard.press("ArrowRight")
            page.wait_for_selector("#preview[data-source=fast]", timeout=30_000)
            sync_api.expect(page.locator("#preview-source")).to_have_text("fast preview")
            page.wait_for_selector("#preview[data-source=optimisation][data-state=done]", timeout=90_000)
            page.screenshot(path=str(tmp_path / "fast_slider.png"))
        finally:
            browser.close()


# A studio whose painters learn in a few steps (`create_app(learn=...)`), served as `impasto studio` serves one.
TINY_STUDIO = """
import socket, sys, uvicorn
from impasto.fast.learn import LearnSettings
from impasto.studio.app import create_app
tiny = LearnSettings(steps=6, batch=2, patch=32, preset="learned-tiny", checkpoint_every=1000)
web = create_app(sys.argv[1], device="cpu", learn=tiny, allowed_hosts=["127.0.0.1"])
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(16)
print(f"impasto studio: serving at http://127.0.0.1:{sock.getsockname()[1]}/ (tiny painters)", flush=True)
uvicorn.Server(uvicorn.Config(web, log_level="warning", lifespan="on")).run(sockets=[sock])
"""


def test_learned_painter_slider_in_chromium(tmp_path: Path, content_rgb: np.ndarray, style_rgb: np.ndarray) -> None:
    """A sweep's painter learned from the page: dragging u then shows its picture, labelled as the learned
    painter's; letting go renders the real look; a u outside the painter's range is rendered as without one."""
    sync_api = pytest.importorskip("playwright.sync_api")
    pytest.importorskip("fastapi")
    from impasto.look import Look
    from impasto.lookdev.sweep import plan_sweep, run_sweep

    root = tmp_path / "cs040"
    (root / "plates").mkdir(parents=True)
    (root / "styles").mkdir()
    write_image(root / "plates" / "plate.png", content_rgb[:48, :64])
    write_image(root / "styles" / "painting.png", style_rgb[:64, :64])
    run_sweep(plan_sweep(root / "plates" / "plate.png", [root / "styles" / "painting.png"], root / "sweeps" / "u",
                         Look(size=48, iterations=2, seed=0), us=[2.0, 3.0, 4.0]), device="cpu", thumb=32)
    proc = subprocess.Popen([sys.executable, "-c", TINY_STUDIO, str(root)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        url = line.split(" at ")[1].split(" ")[0]
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                _drag_through_the_painter(browser, url, sync_api.expect, tmp_path)
            finally:
                browser.close()
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert (root / "sweeps" / "u" / "painter.pt").is_file()


def _drag_through_the_painter(browser, url: str, expect, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{url}?preview=64")
    page.click("#sweeps li:has-text('sweeps/u')")
    expect(page.locator("#painter")).to_have_attribute("data-state", "none", timeout=30_000)
    page.click("#painter-learn")
    page.wait_for_selector("#painter[data-state=done]", timeout=120_000)
    expect(page.locator("#painter-status")).to_contain_text("u 2 to 4")
    expect(page.locator("#fast-model")).to_have_value("sweeps/u/painter.pt", timeout=30_000)
    # The cell at u 3 makes its look the current one; the optimisation renders it.
    page.click("#sheet-grid figure[data-cell='painting__seed0__u3__it2']")
    page.wait_for_selector("#preview[data-source=optimisation][data-state=done]", timeout=90_000)
    # Every picture the preview shows from now on, with its label (some are on screen only briefly).
    page.evaluate("""() => {
        window.shown = [];
        const img = document.getElementById('preview');
        const label = document.getElementById('preview-source');
        new MutationObserver(() => window.shown.push(img.dataset.source + '|' + label.textContent))
            .observe(img, { attributes: true, attributeFilter: ['data-loaded'] });
    }""")
    page.focus("#u")
    page.keyboard.press("ArrowRight")  # u 3.25: between the swept u, painted by the painter while it moves
    page.wait_for_function("window.shown.includes('learned|learned painter (preview)')", timeout=30_000)
    assert page.get_attribute("#preview", "data-fast-u") == "3.25"
    # Letting go (the key's change event) renders the real look.
    page.wait_for_function("window.shown.at(-1) === 'optimisation|optimisation' && "
                           "document.getElementById('preview').dataset.state === 'done'", timeout=90_000)
    expect(page.locator("#status")).to_contain_text("u 3.25")
    # Outside the painter's range (u 4.25): no painter picture, no error, the optimisation renders it.
    page.evaluate("window.shown = []")
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    expect(page.locator("#u-value")).to_have_text("4.25")
    expect(page.locator("#fast-info")).to_contain_text("outside this learned painter's range")
    page.wait_for_function("document.getElementById('preview').dataset.state === 'done' && "
                           "document.getElementById('status').textContent.startsWith('u 4.25')", timeout=90_000)
    assert page.evaluate("window.shown.at(-1)") == "optimisation|optimisation"
    assert page.get_attribute("#preview", "data-fast-u") != "4.25"  # the painter was not asked for it
    assert "error" not in (page.get_attribute("#message", "class") or "")
    page.screenshot(path=str(tmp_path / "learned_slider.png"), full_page=True)
    assert not errors, errors
