"""`dcgan evaluate` end to end: the MNIST extractor, cached real statistics, and the Inception
path with random weights (the real ones cannot be downloaded here), checked against
torch-fidelity's own `calculate_metrics` (what its `fidelity` CLI runs) on the same PNGs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import train_tiny
from PIL import Image
from torch import nn
from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

from dcgan import DcganError
from dcgan.cli import main
from dcgan.data.packed import PackedDataset
from dcgan.metrics.extractors import INCEPTION_FILE, get_extractor
from dcgan.metrics.fidelity import Reference, compute
from dcgan.metrics.inception_nvidia import inception_file

# Inception at 299 px costs ~0.3 s an image on this CPU; the tests run it at 75 px (its
# smallest input), which changes nothing else in the code path.
TEST_INCEPTION_SIZE = 75


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory) -> Path:
    """torch-fidelity's Inception-v3 with random (He-normal) weights, saved as a state dict."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(tf_inception, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda *a: None)
        net = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, nn.Conv2d | nn.Linear):
                std = (2 / mod.weight[0].numel()) ** 0.5
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=gen) * std)
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(autouse=True)
def small_inception(monkeypatch) -> None:
    monkeypatch.setattr(
        tf_inception.FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", TEST_INCEPTION_SIZE
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("eval"), batch_size=32, steps=2, ema=0.9)


def blobs(n: int, seed: int, smooth: bool) -> torch.Tensor:
    """n grey 32 px uint8 images: smooth blobs or plain noise."""
    x = torch.rand(
        n,
        1,
        8 if smooth else 32,
        8 if smooth else 32,
        generator=torch.Generator().manual_seed(seed),
    )
    x = torch.nn.functional.interpolate(x, size=32, mode="bilinear") if smooth else x
    return (x * 255).round().to(torch.uint8)


def write_pngs(images: torch.Tensor, folder: Path) -> Path:
    folder.mkdir()
    for i, img in enumerate(images):
        Image.fromarray(img[0].numpy(), "L").save(folder / f"{i:05d}.png")
    return folder


def test_inception_path_equals_torch_fidelity(inception_weights: Path, tmp_path: Path) -> None:
    import torch_fidelity

    fake, real = blobs(10, 0, smooth=False), blobs(10, 1, smooth=True)
    ours_ext = get_extractor("inception-fidelity", inception_weights)
    ours = compute(["fid", "kid", "is", "pr"], ours_ext(fake), Reference.of(ours_ext(real)))
    theirs = torch_fidelity.calculate_metrics(
        input1=str(write_pngs(fake, tmp_path / "fake")),
        input2=str(write_pngs(real, tmp_path / "real")),
        cuda=False,
        fid=True,
        kid=True,
        isc=True,
        prc=True,
        kid_subset_size=10,
        # One extractor for every metric (torch-fidelity's default for PR alone is VGG16).
        feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(inception_weights),
        cache=False,
        save_cpu_ram=True,  # no DataLoader worker processes; the same numbers
        verbose=False,
    )
    assert ours["fid"] > 0
    pairs = {
        "fid": "frechet_inception_distance",
        "kid_mean": "kernel_inception_distance_mean",
        "kid_std": "kernel_inception_distance_std",
        "is_mean": "inception_score_mean",
        "is_std": "inception_score_std",
        "precision": "precision",
        "recall": "recall",
    }
    for k, v in pairs.items():
        assert ours[k] == pytest.approx(theirs[v], rel=1e-6, abs=1e-12), k


def test_missing_inception_weights_is_one_clear_line(
    run_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    args = ["evaluate", str(run_dir), "--n", "8", "--cache", str(tmp_path / "c")]
    assert main([*args, "--extractor", "inception-fidelity"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert INCEPTION_FILE in err and str(tmp_path / "torch" / "hub" / "checkpoints") in err
    with pytest.raises(DcganError, match="not found"):
        get_extractor("inception-fidelity", tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not weights")
    with pytest.raises(DcganError, match="unusable"):
        get_extractor("inception-fidelity", bad)


def test_evaluate_inception_cli_with_given_weights(
    run_dir: Path, inception_weights: Path, tmp_path: Path, capsys
) -> None:
    # FID's 2048 x 2048 eigenvalues take seconds here; the FID path is checked above.
    args = ["evaluate", str(run_dir), "--n", "12", "--cache", str(run_dir.parents[1] / "cache")]
    args += ["--metrics", "kid,is,pr", "--extractor", "inception-fidelity"]
    args += ["--inception-weights", str(inception_weights), "--out", str(tmp_path / "r.json")]
    assert main(args) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["extractor"].startswith("inception-fidelity-") and result["generator"] == "ema"
    assert {"kid_mean", "kid_std", "is_mean", "precision", "recall"} <= set(result["metrics"])
    assert "not comparable" not in capsys.readouterr().out


def test_default_inception_takes_is_from_torch_fidelity_weights(
    run_dir: Path, inception_weights: Path, tmp_path: Path
) -> None:
    """The default (NVIDIA) Inception has no logits: IS comes from torch-fidelity's network,
    features for KID from the NVIDIA one."""
    if not inception_file().is_file():
        pytest.skip("the Inception network is not installed (dcgan pull inception)")
    args = ["evaluate", str(run_dir), "--n", "4", "--cache", str(run_dir.parents[1] / "cache")]
    args += ["--metrics", "kid,is", "--inception-weights", str(inception_weights)]
    assert main([*args, "--out", str(tmp_path / "r.json")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["extractor"].startswith("inception-nvidia-")
    assert {"kid_mean", "is_mean"} <= set(result["metrics"])


def test_evaluate_mnist_cli_and_cached_real_stats(
    run_dir: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    cache = run_dir.parents[1] / "cache"  # the run's: its data is prepared there already
    args = ["evaluate", str(run_dir), "--extractor", "mnist", "--n", "64", "--cache", str(cache)]
    assert main([*args, "--out", str(tmp_path / "a.json")]) == 0
    out = capsys.readouterr().out
    assert "FID" in out and "not comparable to Inception FID" in out
    first = json.loads((tmp_path / "a.json").read_text())
    assert first["n_real"] == 64 and first["step"] == 2 and first["metrics"]["fid"] > 0
    assert len(list((cache / "real-stats").glob("mnist-*-n64-*.npz"))) == 1

    def no_reading(*a, **k):
        raise AssertionError("the real images were read again")

    monkeypatch.setattr(PackedDataset, "get_batch", no_reading)
    assert main([*args, "--out", str(tmp_path / "b.json")]) == 0
    second = json.loads((tmp_path / "b.json").read_text())
    assert second["metrics"] == first["metrics"]
    assert main([*args, "--no-ema", "--out", str(tmp_path / "c.json")]) == 0
    assert json.loads((tmp_path / "c.json").read_text())["generator"] == "G"


def test_evaluate_bad_input_is_one_line(run_dir: Path, tmp_path: Path, capsys) -> None:
    base = ["evaluate", str(run_dir), "--extractor", "mnist", "--cache", str(tmp_path)]
    assert main([*base, "--metrics", "fid,nope"]) == 2
    assert main(["evaluate", "--extractor", "mnist"]) == 2
    assert main([*base[:2], "--extractor", str(tmp_path / "missing.pt")]) == 2
    errs = capsys.readouterr().err.strip().splitlines()
    assert len(errs) == 3 and all(e.startswith("dcgan: error:") for e in errs)


def test_train_extractor_then_evaluate_with_it(run_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "digits-extractor.pt"
    args = ["evaluate", str(run_dir), "--train-extractor", "--data", "digits"]
    args += ["--extractor-out", str(out), "--extractor-epochs", "2", "--n", "16"]
    args += ["--cache", str(run_dir.parents[1] / "cache"), "--metrics", "fid"]
    args += ["--out", str(tmp_path / "r.json")]
    assert main(args) == 0
    assert "held-out accuracy" in capsys.readouterr().out
    ext = get_extractor(out)
    assert ext.name.startswith("classifier-")
    # 10 classes (chance 0.1), 2 short epochs: 0.80 alone, 0.799 after the file's other tests
    assert ext.net.meta["held_out_accuracy"] > 0.7
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["extractor"] == ext.name and result["metrics"]["fid"] >= 0
    assert main(["evaluate", "--train-extractor", "--data", str(tmp_path / "nope")]) == 2


def test_train_extractor_is_one_net_per_seed(tmp_path: Path) -> None:
    """Its dropout draws from torch's global stream: one seed must still give one extractor,
    whatever the caller drew before, and leave the caller's stream as it was."""
    from dcgan.metrics.train_extractor import train_extractor

    weights = []
    for before in (1, 7):
        torch.manual_seed(before)
        state = torch.get_rng_state()
        out = tmp_path / f"e{before}.pt"
        train_extractor("digits", out, epochs=1, cache=tmp_path / "cache")
        assert torch.equal(torch.get_rng_state(), state)
        weights.append(torch.load(out, weights_only=True)["state_dict"])
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
