from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_default_dtype(torch.float32)
# 'auto' precision is measured per machine; tests pin it so renders are the same on every CPU (the decision itself
# is tested with a faked measurement in test_precision.py).
os.environ["IMPASTO_AUTO_PRECISION"] = "fp32"
# Tiny test images gain nothing from intra-op threads, and on a busy CPU threads make them far slower. Commands
# that paint take their share of the cores (impasto.threads): one thread here too, and in the renders the tests
# start as processes, so results do not depend on the core count. tests/test_threads.py unsets it.
torch.set_num_threads(1)
os.environ["IMPASTO_THREADS"] = "1"


@pytest.fixture(scope="session", autouse=True)
def _weights_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # A fresh cache per session: the conversion path runs in CI, and the user's cache stays untouched.
    os.environ["IMPASTO_CACHE"] = str(tmp_path_factory.mktemp("impasto-cache"))


def _small(img: np.ndarray, long_edge: int) -> np.ndarray:
    from skimage.transform import resize

    h, w = img.shape[:2]
    s = long_edge / max(h, w)
    return resize(img, (round(h * s), round(w * s)), anti_aliasing=True).astype(np.float32)


@pytest.fixture(scope="session")
def content_rgb() -> np.ndarray:
    from skimage import data

    return _small(data.astronaut(), 96)


@pytest.fixture(scope="session")
def style_rgb() -> np.ndarray:
    from skimage import data

    return _small(data.coffee(), 96)


@pytest.fixture()
def images(tmp_path: Path, content_rgb: np.ndarray, style_rgb: np.ndarray) -> tuple[Path, Path]:
    from impasto.io.images import write_image

    return write_image(tmp_path / "content.png", content_rgb), write_image(tmp_path / "style.png", style_rgb)


@pytest.fixture()
def one_torch_thread():
    """One torch thread for the test: small renders are faster so, and CPU results do not depend on the core count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

