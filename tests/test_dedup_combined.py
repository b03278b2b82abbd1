"""`dedup --hash combined`: the robust hash OR pHash over two views of the full image finds
mirrored, letterboxed and framed copies of real photos that pHash alone misses."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from conftest import celeba_jpegs
from PIL import Image, ImageOps
from scipy.sparse.csgraph import connected_components

from dcgan.cli import main
from dcgan.experiments.dedup import dedup
from dcgan.experiments.dedup_groups import view_distance, view_labels
from dcgan.experiments.dedup_views import phash
from dcgan.options_data import DedupConfig

N = 120
EPOCHS = 2


def _letterbox(img: Image.Image) -> Image.Image:
    w, h = img.size
    out = Image.new("RGB", (round(h * 16 / 9), h))
    out.paste(img, ((out.size[0] - w) // 2, 0))
    return out


COPIES = {  # kind: (which original, how)
    "mirror": (5, ImageOps.mirror),
    "letterbox": (20, _letterbox),
    "frame": (40, lambda im: ImageOps.expand(im, 18, (200, 30, 30))),
}


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


@pytest.fixture(scope="module")
def celeba() -> list[tuple[str, bytes]]:
    return [(name.split("/")[-1], data) for name, data in celeba_jpegs(N)]


@pytest.fixture(scope="module")
def folder(celeba, tmp_path_factory):
    """N photos and, after them, one copy of each kind."""
    root = tmp_path_factory.mktemp("combined") / "images"
    root.mkdir()
    for name, data in celeba:
        (root / name).write_bytes(data)
    for kind, (i, make) in COPIES.items():
        (root / f"z_{kind}_{celeba[i][0]}").write_bytes(_jpeg(make(_open(celeba[i][1]))))
    return root


@pytest.fixture(scope="module")
def run(folder):
    return dedup(
        folder, folder.parent / "out", DedupConfig(hash="combined", epochs=EPOCHS), workers=1
    )


def _kept_of(out) -> dict[str, str]:
    groups = json.loads((out / "groups.json").read_text())["items"]
    return {d["name"]: g["keep"]["name"] for g in groups for d in g["duplicates"]}


def test_views_search_is_exact():
    """view_labels equals the brute-force graph of its rule (view 0 of an earlier image within
    r of some view of a later one), with views drawn from shared centres so that matches
    cross views and run one way only, and with exact repeats."""
    rng = np.random.default_rng(3)
    centres = rng.random((25, 64)) < 0.5
    bits = centres[rng.integers(0, 25, (150, 2))]
    for view in bits.reshape(-1, 64):
        view[rng.choice(64, rng.integers(0, 5), replace=False)] ^= True
    views = np.packbits(np.concatenate([bits, bits[::7]]), axis=2)
    n = len(views)
    later = np.arange(n)[:, None] < np.arange(n)[None]
    dist = view_distance(views[:, None], views[None])
    assert (dist != dist.T).any()  # the rule is one-way
    for r in range(6):
        want = connected_components((dist <= r) & later, directed=False)[1]
        got = view_labels(views, r)
        assert (np.equal.outer(got, got) == np.equal.outer(want, want)).all(), r


def test_phash_is_imagehashs(celeba):
    imagehash = pytest.importorskip("imagehash", reason="imagehash (the dev extra) is absent")
    for _, data in celeba[:20]:
        assert np.array_equal(phash(_open(data)), imagehash.phash(_open(data)).hash.ravel())


def test_copies_pHash_misses_are_grouped(run, celeba):
    """Each copy is grouped with its original, though pHash of the full images puts them
    further apart than its radius 4 (the operating point of docs/dedup.md)."""
    kept = _kept_of(run.out)
    for kind, (i, make) in COPIES.items():
        name, data = celeba[i]
        copy = _open(_jpeg(make(_open(data))))
        assert np.sum(phash(_open(data)) != phash(copy)) > 4, kind
        assert kept.get(f"z_{kind}_{name}") == name, kind
    assert run.removed <= len(COPIES) + 3  # a few of CelebA's own duplicates, not a collapse
    assert np.load(run.out / "views.npy").shape == (N + len(COPIES), 2, 8)


def test_adds_to_the_robust_hash_it_contains(run, folder, celeba, tmp_path):
    """--hash robust, trained alike, has the same codes and misses the letterboxed copy."""
    robust = dedup(folder, tmp_path / "r", DedupConfig(hash="robust", epochs=EPOCHS), workers=1)
    assert np.array_equal(np.load(robust.out / "hashes.npy"), np.load(run.out / "hashes.npy"))
    letterbox = f"z_letterbox_{celeba[COPIES['letterbox'][0]][0]}"
    assert letterbox in _kept_of(run.out) and letterbox not in _kept_of(robust.out)
    assert not (robust.out / "views.npy").exists()


def test_cli_gives_the_api_groups_and_checks_an_index(run, folder, celeba, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["dedup", str(folder), "--out", str(out), "--hash", "combined"]
    assert main([*argv, "--epochs", str(EPOCHS), "--workers", "1"]) == 0
    assert f"{run.removed} to remove" in capsys.readouterr().out
    assert _kept_of(out) == _kept_of(run.out)
    batch = tmp_path / "batch"
    batch.mkdir()
    name, data = celeba[60]
    (batch / "new_mirror.jpg").write_bytes(_jpeg(ImageOps.mirror(_open(data))))
    assert main(["dedup", str(batch), "--out", str(tmp_path / "b"), "--model", str(out)]) == 0
    assert _kept_of(tmp_path / "b") == {"new_mirror.jpg": name}


def test_bad_inputs_are_one_line(run, folder, tmp_path, capsys):
    argv = ["dedup", str(folder), "--out", str(tmp_path / "o"), "--hash", "combined"]
    assert main([*argv, "--views-radius", "40"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    index = tmp_path / "index"
    index.mkdir()
    for f in ("hash_model.pt", "hashes.npy", "names.txt"):
        (index / f).write_bytes((run.out / f).read_bytes())
    argv = ["dedup", str(folder), "--out", str(tmp_path / "o"), "--model", str(index)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "views.npy" in err
    np.save(index / "views.npy", np.zeros((3, 2, 8), np.uint8))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not the pHash views" in err
    assert not (tmp_path / "o").exists()
