"""`dcgan convert`: the authors' released models, proven against a Theano-semantics oracle.

The oracle (tests/theano_oracle.py) re-implements the authors' forward passes in PyTensor on
the raw arrays; the converted G and D must match it with batch-statistics BatchNorm, as the
authors sample. A deliberately wrong convention must fail the same check.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED
from PIL import Image

import dcgan.convert as cv
from dcgan import DcganError, Discriminator, Generator, ModelConfig, TrainConfig
from dcgan.cli import main
from dcgan.options_tools import ConvertConfig
from dcgan.sampling import load, sample

TOL = 1e-5  # max abs difference allowed between our modules and the oracle
SVHN = SHARED / "newmu_svhn_dcgan"
# The released ImageNet-32 shapes (imagenet_gan_pretrain_128f_relu_lrelu_7l_3x3_256z/30_*).
IMAGENET_G = (
    [(256, 8192), (8192,), (8192,)]
    + [
        s
        for cin, cout in [(512, 512), (512, 256), (256, 256), (256, 128), (128, 128)]
        for s in [(cin, cout, 3, 3), (cout,), (cout,)]
    ]
    + [(128, 3, 3, 3)]
)
IMAGENET_D = (
    [(128, 3, 3, 3)]
    + [
        s
        for cin, cout in [(128, 128), (128, 256), (256, 256), (256, 512), (512, 512)]
        for s in [(cout, cin, 3, 3), (cout,), (cout,)]
    ]
    + [(8192, 1)]
)
# A tiny release of the SVHN layout (3 layers of 5x5), for the error paths.
TINY_G = [(4, 256), (256,), (256,), (16, 8, 5, 5), (8,), (8,), (8, 4, 5, 5), (4,), (4,)]
TINY_G += [(4, 3, 5, 5)]
TINY_D = [(4, 3, 5, 5), (8, 4, 5, 5), (8,), (8,), (16, 8, 5, 5), (16,), (16,), (256, 1)]


class _Trap:
    """Unpickling this touches a file: proof that the index files are never unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def write_release(folder: Path, g_shapes, d_shapes, prefix: str = "200", seed: int = 0) -> Path:
    """Random arrays of the given shapes, named as the authors' code saves them."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for net, shapes in (("gen", g_shapes), ("discrim", d_shapes)):
        names = []
        for i, shape in enumerate(shapes, 1):
            gain = len(shape) == 1 and shapes[i - 2] != shape  # a BatchNorm scale
            a = rng.normal(1.0 if gain else 0.0, 0.05, shape).astype(np.float32)
            names.append(f"{prefix}_{net}_params.jl_{i:02d}.npy")
            np.save(folder / names[-1], a)
        index = pickle.dumps([*names, _Trap(folder.parent / "unpickled")])
        (folder / f"{prefix}_{net}_params.jl").write_bytes(index)
    return folder


def max_diffs(release: cv.Release, z: np.ndarray, x: np.ndarray, oracle_out: dict) -> dict:
    """Max abs differences of our G and D (batch statistics) from the oracle's outputs."""
    dtype = getattr(torch, str(z.dtype))
    g, d = release.generator.to(dtype).train(), release.discriminator.to(dtype).train()
    with torch.no_grad():
        images = g(torch.from_numpy(z)).numpy()
        feats = d.features(torch.from_numpy(x))
        logits = d.head(feats[-1].flatten(1)).view(-1)
    prob, logit, *oracle_feats = oracle_out["d"]
    scale = max(1.0, float(np.abs(logit).max()))  # logits sum 4096 terms: relative tolerance
    return {
        "G": float(np.abs(images - oracle_out["g"]).max()),
        "D": float(np.abs(torch.sigmoid(logits).numpy() - prob).max()),
        "D logit (relative)": float(np.abs(logits.numpy() - logit).max()) / scale,
        # Features sum up to 25 x 512 float32 terms: relative to their scale, as the logits.
        "D features (relative)": max(
            float(np.abs(f.numpy() - o).max()) / max(1.0, float(np.abs(o).max()))
            for f, o in zip(feats, oracle_feats, strict=True)
        ),
    }


def check(diffs: dict) -> None:
    bad = {k: v for k, v in diffs.items() if not v <= TOL}
    assert not bad, f"differs from the oracle by more than {TOL}: {bad}"


def report(capsys, what: str, diffs: dict) -> None:
    with capsys.disabled():
        print(
            f"\n  oracle max |diff| {what}: " + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items())
        )


@pytest.fixture(scope="module")
def oracle_cls():
    mod = pytest.importorskip(
        "theano_oracle", reason="the oracle needs pytensor 2.x (pip install -e '.[dev]')"
    )
    return mod.Oracle


@pytest.fixture(scope="module")
def svhn_oracle(oracle_cls) -> dict:
    """The oracle's G images for 4 Gaussian z, and its D outputs on those images."""
    if not SVHN.is_dir():
        pytest.skip(f"the authors' SVHN model {SVHN} is absent")
    gen, dis = cv.read_arrays(SVHN, "200_gen_params"), cv.read_arrays(SVHN, "200_discrim_params")
    oracle = oracle_cls(gen, dis, strides=((2, 2, 2), (2, 2, 2)), pad=2)
    z = np.random.default_rng(0).standard_normal((4, 100)).astype(np.float32)
    images = oracle.g(z)
    return {"z": z, "x": images, "g": images, "d": oracle.d(images)}


def test_svhn_model_matches_oracle(svhn_oracle: dict, capsys) -> None:
    release = cv.read_release(SVHN)
    assert release.layout.name == "svhn" and release.config.z_dist == "normal"
    m = release.config.model
    assert (m.nz, m.ngf, m.ndf, m.kernel, m.pad, m.layer_strides) == (100, 64, 64, 5, 2, (2, 2, 2))
    assert (m.proj_norm, m.bn_eps) == ("unit", 1e-8)
    diffs = max_diffs(release, svhn_oracle["z"], svhn_oracle["x"], svhn_oracle)
    report(capsys, "real SVHN model, float32", diffs)
    check(diffs)


@pytest.mark.parametrize("wrong", ["kernels not flipped", "PyTorch's BatchNorm epsilon"])
def test_wrong_convention_is_caught(svhn_oracle: dict, monkeypatch, wrong: str, capsys) -> None:
    if wrong == "kernels not flipped":
        monkeypatch.setattr(cv, "theano_kernel", lambda w: torch.from_numpy(w.copy()))
    else:
        monkeypatch.setattr(cv, "THEANO_BN_EPS", 1e-5)
    diffs = max_diffs(cv.read_release(SVHN), svhn_oracle["z"], svhn_oracle["x"], svhn_oracle)
    report(capsys, f"with {wrong}", diffs)
    with pytest.raises(AssertionError, match="differs from the oracle"):
        check(diffs)


def test_imagenet32_layout_matches_oracle(oracle_cls, tmp_path: Path, capsys) -> None:
    """Random arrays of the released ImageNet-32 shapes; float64 as random weights are
    ill-conditioned for per-unit BatchNorm over a batch of 2 (the oracle is slow)."""
    src = write_release(tmp_path / "in32", IMAGENET_G, IMAGENET_D, prefix="30")
    release = cv.read_release(src)
    m = release.config.model
    assert release.layout.name == "imagenet32" and release.config.z_dist == "uniform"
    assert (m.nz, m.ngf, m.ndf, m.kernel, m.layer_widths) == (256, 128, 128, 3, (4, 4, 2, 2, 1, 1))
    assert m.layer_strides == (2, 1, 2, 1, 2, 1)
    gen, dis = cv.read_arrays(src, "30_gen_params"), cv.read_arrays(src, "30_discrim_params")
    strides = ((2, 1, 2, 1, 2, 1), (1, 2, 1, 2, 1, 2))  # load_pretrained.py's gen, discrim
    oracle = oracle_cls(gen, dis, strides=strides, pad=1, dtype="float64")
    z = np.random.default_rng(1).uniform(-1, 1, (2, 256))
    images = oracle.g(z)
    out = {"g": images, "d": oracle.d(images[:1])}
    diffs = max_diffs(release, z, images[:1], out)
    report(capsys, "ImageNet-32 layout, float64", diffs)
    check(diffs)
    assert not (tmp_path / "unpickled").exists()


def test_convert_verb_and_every_sampling_verb(tmp_path: Path, capsys) -> None:
    if not SVHN.is_dir():
        pytest.skip(f"the authors' SVHN model {SVHN} is absent")
    ckpt = tmp_path / "svhn.pt"
    assert main(["convert", str(SVHN), "--out", str(ckpt)]) == 0
    assert "svhn model" in capsys.readouterr().out
    saved = torch.load(ckpt, weights_only=True)
    assert saved["source"]["layout"] == "svhn" and len(saved["source"]["sha256"]) == 20
    model = load(ckpt)  # no flags: the architecture and prior come from the checkpoint
    assert model.config.model == cv.read_release(SVHN).config.model
    batch, running = sample(model, n=8), sample(model, n=8, bn="running")
    assert batch.shape == (8, 3, 32, 32) and torch.equal(batch, running)  # stats filled in
    assert (
        main(["sample", str(ckpt), "--n", "4", "--bn", "running", "--out", str(tmp_path / "g.png")])
        == 0
    )
    assert (
        main(
            [
                "interpolate",
                str(ckpt),
                "--seeds",
                "1,2",
                "--segment-steps",
                "3",
                "--out",
                str(tmp_path / "w.png"),
            ]
        )
        == 0
    )
    assert Image.open(tmp_path / "w.png").size == (4 * 34 + 2, 34 + 2)  # 1 segment: 4 images


def _break(folder: Path, how: str) -> None:
    if how == "missing array":
        (folder / "200_gen_params.jl_04.npy").unlink()
    elif how == "missing last array, no index":
        (folder / "200_gen_params.jl_10.npy").unlink()
        (folder / "200_gen_params.jl").unlink()
    elif how == "truncated array":
        path = folder / "200_discrim_params.jl_02.npy"
        path.write_bytes(path.read_bytes()[:300])
    elif how == "pickled array":
        np.save(folder / "200_gen_params.jl_05.npy", np.array([None] * 8), allow_pickle=True)
    elif how == "mismatched shapes":
        np.save(folder / "200_gen_params.jl_07.npy", np.zeros((9, 4, 5, 5), np.float32))
    elif how == "unknown layout":
        for p in folder.iterdir():
            p.unlink()
        write_release(folder, [(4, 64), (64,), (64,), (4, 3, 5, 5)], [(4, 3, 5, 5), (64, 1)])
    elif how == "several epochs":
        write_release(folder, TINY_G, TINY_D, prefix="100")
    elif how == "no model":
        for p in folder.iterdir():
            p.unlink()


@pytest.mark.parametrize(
    "how, needle",
    [
        ("missing array", "missing"),
        ("missing last array, no index", "unrecognised released model"),
        ("truncated array", "not a readable array"),
        ("pickled array", "not a readable array"),
        ("mismatched shapes", "input channels"),
        ("unknown layout", "known: svhn"),
        ("several epochs", "--epoch"),
        ("no model", "no released model"),
        ("no folder", "not found"),
    ],
)
def test_bad_release_one_line_exit_2(tmp_path: Path, capsys, how: str, needle: str) -> None:
    folder = write_release(tmp_path / "model", TINY_G, TINY_D)
    if how == "no folder":
        shutil.rmtree(folder)
    _break(folder, how)
    assert main(["convert", str(folder), "--out", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "unpickled").exists()


def test_tiny_release_converts_and_unwritable_output_fails(tmp_path: Path, capsys) -> None:
    folder = write_release(tmp_path / "model", TINY_G, TINY_D)
    assert main(["convert", str(folder), "--out", str(tmp_path / "ok.pt")]) == 0
    assert load(tmp_path / "ok.pt").generator.config.widths == (4, 2, 1)
    write_release(folder, TINY_G, TINY_D, prefix="100")
    assert main(["convert", str(folder), "--out", str(tmp_path / "e.pt"), "--epoch", "100"]) == 0
    assert torch.load(tmp_path / "e.pt", weights_only=True)["source"]["epoch"] == 100
    cv.convert(folder, tmp_path / "api.pt", ConvertConfig(epoch=100))  # or epoch=100 by name
    assert torch.load(tmp_path / "api.pt", weights_only=True)["source"]["epoch"] == 100
    with pytest.raises(DcganError, match="epoch must be in 0..1000000, got -1"):
        cv.convert(folder, tmp_path / "api.pt", epoch=-1)
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where a directory is needed: fails even for root
    capsys.readouterr()
    assert main(["convert", str(folder), "--out", str(blocker / "x.pt")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "unpickled").exists()


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"size": 32, "strides": (2, 2)}, "not to the image size 32"),
        ({"size": 32, "kernel": 4, "strides": (2, 1, 2, 1, 2, 1)}, "cannot scale by exactly 1"),
        ({"size": 32, "strides": (2, 2, 2), "widths": (4, 2)}, "same number of layers"),
        ({"kernel": 5, "padding": 1}, "cannot scale by exactly 2"),
        ({"proj_norm": "layer"}, "proj_norm"),
    ],
)
def test_bad_model_options(kwargs: dict, needle: str) -> None:
    with pytest.raises(DcganError, match=needle):
        ModelConfig(**kwargs)


def test_model_options_from_the_command_line() -> None:
    from dcgan.cli import build_dataclass, parser

    args = parser().parse_args(
        ["train", "--size", "32", "--kernel", "3", "--strides", "2,1,2,1,2,1"]
        + ["--widths", "4,4,2,2,1,1", "--proj-norm", "unit", "--bn-eps", "1e-8"]
    )
    config = build_dataclass(TrainConfig, args).model
    assert config.layer_strides == (2, 1, 2, 1, 2, 1) and config.pad == 1
    assert ModelConfig(**{**config.__dict__, "strides": [2, 1, 2, 1, 2, 1]}) == config


def test_model_options_survive_json_and_checkpoints(tmp_path: Path) -> None:
    """A run's config.json and a checkpoint both give back the same non-default architecture."""
    model = ModelConfig(size=16, channels=1, ngf=4, ndf=4, kernel=3, strides=(2, 1, 2))
    model = ModelConfig(**{**model.__dict__, "widths": (2, 2, 1), "proj_norm": "unit"})
    config = TrainConfig(model=model, z_dist="normal")
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    torch.save({"config": config.to_dict()}, tmp_path / "c.pt")
    assert (
        TrainConfig.from_dict(torch.load(tmp_path / "c.pt", weights_only=True)["config"]) == config
    )
    g, d = Generator(model), Discriminator(model)
    d(g(torch.randn(3, model.nz))).sum().backward()
    assert g.project.weight.grad is not None and isinstance(g.project_bn, torch.nn.BatchNorm1d)
    assert [tuple(f.shape[1:]) for f in d.features(torch.zeros(2, 1, 16, 16))] == [
        (4, 8, 8),
        (8, 8, 8),
        (8, 4, 4),
    ]
