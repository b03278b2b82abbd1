"""`dedup`: the semantic hash, its groups and outputs, on real CelebA images."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from conftest import SHARED, celeba_jpegs
from PIL import Image

from dcgan.cli import main
from dcgan.data.images import convert_image
from dcgan.data.packed import PackedDataset
from dcgan.errors import DcganError
from dcgan.experiments.dedup import dedup, group_labels, load_model, read_batches
from dcgan.experiments.dedup_hash import train_hash
from dcgan.experiments.dedup_nets import HashAutoencoder, InvariantHash
from dcgan.options_data import DedupConfig

N = 240
CONFIG = DedupConfig(hash="paper", epochs=4)


def _reencode(data: bytes, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


@pytest.fixture(scope="module")
def celeba() -> list[tuple[str, bytes]]:
    """The first N CelebA JPEGs of the shared tar, as (name, bytes)."""
    return celeba_jpegs(N)


@pytest.fixture(scope="module")
def run(celeba, tmp_path_factory):
    """One dedup of N images plus re-encoded copies of the first three."""
    root = tmp_path_factory.mktemp("dedup")
    folder = root / "images"
    folder.mkdir()
    for name, data in celeba:
        (folder / name.split("/")[-1]).write_bytes(data)
    for name, data in celeba[:3]:
        (folder / ("z_copy_" + name.split("/")[-1])).write_bytes(_reencode(data))
    return dedup(folder, root / "out", CONFIG, clean_size=16, workers=1)


def _hashes(model, payloads: list[bytes]) -> np.ndarray:
    return model.hash(np.stack([convert_image(p, 32, 3) for p in payloads]))


def test_hash_is_deterministic(run, celeba):
    model = load_model(run.out)
    payloads = [d for _, d in celeba[:50]]
    assert np.array_equal(_hashes(model, payloads), _hashes(model, payloads))
    assert _hashes(model, payloads).shape == (50, 16)


def test_reencoded_copy_shares_hash_and_other_people_do_not(run, celeba):
    model = load_model(run.out)
    ids = dict(line.split() for line in (SHARED / "identity_CelebA.txt").read_text().splitlines())
    distinct = {ids[n.split("/")[-1]]: d for n, d in reversed(celeba)}  # one photo per person
    originals = list(distinct.values())[:20]
    same = _hashes(model, originals) == _hashes(model, [_reencode(d, 95) for d in originals])
    assert same.all(axis=1).sum() >= 15  # a lossy copy keeps its 128-bit hash
    # twenty different people: no two share a hash
    assert len(np.unique(_hashes(model, originals), axis=0)) == 20


def test_groups_written(run, celeba):
    data = json.loads((run.out / "groups.json").read_text())
    assert data["groups"] == len(run.groups) and data["removed"] == run.removed
    copies = {f"z_copy_{n.split('/')[-1]}": n.split("/")[-1] for n, _ in celeba[:3]}
    kept_of = {d["name"]: g["keep"]["name"] for g in data["items"] for d in g["duplicates"]}
    assert sum(kept_of.get(c) == o for c, o in copies.items()) >= 2
    rows = list(csv.DictReader(io.StringIO((run.out / "groups.csv").read_text())))
    assert len(rows) == sum(len(g) for g in run.groups)
    assert sum(r["kept"] == "1" for r in rows) == len(run.groups)
    with Image.open(run.out / "sheet.png") as sheet:
        assert sheet.size[0] > 32
    clean = PackedDataset(run.clean)
    assert len(clean) == run.count - run.removed and clean.images.shape[1:] == (3, 16, 16)


def test_saved_model_is_reused(run, tmp_path):
    images = run.out.parent / "images"
    again = dedup(images, tmp_path / "o", CONFIG, model=run.out / "hash_model.pt", workers=1)
    assert again.groups == run.groups
    assert np.array_equal(np.load(tmp_path / "o" / "hashes.npy"), np.load(run.out / "hashes.npy"))


def _shifted(data: bytes, dx: int, dy: int) -> bytes:
    img = Image.open(io.BytesIO(data))
    w, h = img.size
    buf = io.BytesIO()
    img.crop((max(dx, 0), max(dy, 0), w + min(dx, 0), h + min(dy, 0))).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.unpackbits(a ^ b, axis=1).sum(1)


def test_invariant_hash_keeps_copies_near_and_people_apart(celeba):
    """Trained on N real faces, quality-40 and 2 px shifted copies of 40 of them land within
    the default radius (8 bits); 40 other photos land far outside it."""
    images = np.stack([convert_image(d, 32, 3) for _, d in celeba])
    model = train_hash(images, DedupConfig(epochs=10, batch_size=64))
    assert isinstance(model, InvariantHash)
    payloads = [d for _, d in celeba[:40]]
    codes = _hashes(model, payloads)
    jpeg = _distance(codes, _hashes(model, [_reencode(d, 40) for d in payloads]))
    shift = _distance(codes, _hashes(model, [_shifted(d, 2, -2) for d in payloads]))
    others = _distance(codes, _hashes(model, [d for _, d in celeba[40:80]]))
    assert (jpeg <= 8).mean() >= 0.9 and (shift <= 8).mean() >= 0.9, (jpeg, shift)
    assert np.median(jpeg) <= 2 and np.median(shift) <= 4, (jpeg, shift)
    assert others.min() > 24 and np.median(others) >= 40, others
    bits = np.unpackbits(model.hash(images), axis=1).mean(0)
    assert 0.3 < bits.mean() < 0.7 and bits.min() > 0.05 and bits.max() < 0.95  # balanced


def test_multi_index_radius_matches_brute_force():
    rng = np.random.default_rng(0)
    codes = np.packbits(rng.random((300, 128)) < 0.5, axis=1)
    codes[1::3] = codes[0::3]  # exact copies
    flip = np.unpackbits(codes[0::3], axis=1)
    flip[:, :2] ^= 1  # two bits away
    codes[2::3] = np.packbits(flip, axis=1)
    for r in range(4):
        labels = group_labels(codes, r)
        dist = np.unpackbits(codes[:, None] ^ codes[None], axis=2).sum(-1)
        assert ((dist <= r) <= (labels[:, None] == labels[None])).all()
        if r < 2:
            assert len(np.unique(labels)) == 200
        else:
            assert len(np.unique(labels)) == 100


def test_radius_groups_equal_brute_force_components():
    """Clustered codes (centres plus copies 0-6 bits away): at every radius the groups are
    exactly the connected components of the brute-force 'within r bits' graph."""
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(1)
    centres = rng.random((60, 64)) < 0.5
    bits = np.repeat(centres, 5, axis=0)
    for row, k in zip(bits, rng.integers(0, 7, len(bits)), strict=True):
        row[rng.choice(64, k, replace=False)] ^= True
    codes = np.packbits(bits, axis=1)
    dist = np.unpackbits(codes[:, None] ^ codes[None], axis=2).sum(-1)
    for r in range(8):
        want = connected_components(dist <= r, directed=False)[1]
        got = group_labels(codes, r)
        assert (np.equal.outer(got, got) == np.equal.outer(want, want)).all(), r


def test_cli_hash_paper_is_the_papers_autoencoder(run, tmp_path, capsys):
    """`--hash paper` trains the paper's 3072-128-3072 autoencoder and gives the same
    hashes as the library call with hash="paper"."""
    images = run.out.parent / "images"
    argv = ["dedup", str(images), "--out", str(tmp_path / "o"), "--hash", "paper"]
    assert main([*argv, "--epochs", "4", "--workers", "1"]) == 0
    model = load_model(tmp_path / "o")
    assert type(model) is HashAutoencoder and model.kind == "paper"
    assert model.encoder.weight.shape == (128, 3072)
    assert np.array_equal(np.load(tmp_path / "o" / "hashes.npy"), np.load(run.out / "hashes.npy"))
    assert "duplicate groups" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["dedup", str(images), "--out", str(tmp_path / "p"), "--hash", "nope"])


def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["dedup", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"not a jpeg")
    assert main(["dedup", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no decodable images" in err
    assert main(["dedup", str(bad), "--out", str(tmp_path / "o"), "--model", str(bad)]) == 2
    with pytest.raises(DcganError):
        DedupConfig(radius=200)


def test_new_batch_checked_against_an_index(run, celeba, tmp_path):
    batch = tmp_path / "batch"
    batch.mkdir()
    name, data = celeba[5]
    (batch / "new_copy.jpg").write_bytes(_reencode(data))
    (batch / "same_file.jpg").write_bytes(celeba[6][1])
    result = dedup(batch, tmp_path / "grown", CONFIG, model=run.out, workers=1)
    assert result.count == 2 and result.removed >= 1
    groups = json.loads((tmp_path / "grown" / "groups.json").read_text())
    assert groups["indexed_before"] == run.count
    keeps = {g["keep"]["name"] for g in groups["items"]}
    assert celeba[6][0].split("/")[-1] in keeps  # the indexed image is kept over its copy
    assert len(np.load(tmp_path / "grown" / "hashes.npy")) == run.count + 2


def test_read_batches_returns_every_row_in_order(tmp_path):
    rows = np.random.default_rng(0).integers(0, 256, (1001, 3, 4, 4), dtype=np.uint8)
    np.save(tmp_path / "a.npy", rows)
    batches = list(read_batches(tmp_path / "a.npy", 400))
    assert [len(b) for b in batches] == [400, 400, 201]
    assert np.array_equal(np.concatenate(batches), rows)
