"""Differentiable augmentation on small CelebA subsets (issue 31): `--augment none` against
`diffaugment` (and `ada`), at equal steps, several seeds per cell.

Data: the 5,999 aligned CelebA faces of the shared tar, centre-cropped to a square and
resized to `size` px. The 659 faces of CelebA's official test partition (numbers >= 182638)
are held out: no run trains on them. The training pool is the other 5,340 faces; a subset
of k is the first k of a fixed shuffle of the pool (seed 0), the same for every run.

Judges, on the final G and D of each run (no EMA: the paper's recipe):
- KID (dcgan.metrics.fidelity: 100 subsets, cubic kernel) between `n_eval` samples and the
  held-out faces, in the features of the project's domain extractor (`dcgan evaluate
  --train-extractor`: the small CNN trained on the identities of the training pool; its
  accuracy on a held-out tenth is reported). Comparable only within this bench.
- D's accuracy (logit > 0 = "real") on the held-out faces, on as many faces of the run's own
  training subset, and on `n_eval` samples (logit < 0 = "fake"), without augmentation and with
  D's BatchNorm on batch statistics of 64 images of one kind, as in training. A D that
  overfits calls its training faces real and the held-out faces fake: the gap between the
  two is the overfitting signal.

Run the full protocol (64 px, width 64, 5,000 steps, 1k/5k/all, three arms, 3 seeds):
    python bench/augment_celeba.py
The small versions that docs/training.md reports (--steps 250, and --steps 600 with
every cell):
    python bench/augment_celeba.py --size 32 --width 32 --steps 250 --subsets 1000,0 \
        --arms none,diffaugment
    python bench/augment_celeba.py --size 32 --width 32 --steps 600 --subsets 1000,5000,0 \
        --json bench/results/augment_celeba_steps600_all.json
(`0` in --subsets means the whole pool.) `--reuse A.json,B.json` takes over the cells of
earlier runs at the same settings instead of rerunning them. The extractor is trained with a
fixed seed; a different extractor refuses the reuse in one line (the weights' digest where
both runs recorded one, else its held-out accuracy to the last digit). Then the first seed of
the first cell taken from each file is run again, and the reuse is refused unless that run
reproduces the file's numbers: the same code, data and judge.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from harness import CACHE, SHARED, parse_args, print_table, results_path, write_results
from PIL import Image

from dcgan import ModelConfig, TrainConfig, train
from dcgan.checkpoint import load_checkpoint
from dcgan.conventions import quantize, to_unit_range
from dcgan.metrics.extractors import ClassifierExtractor
from dcgan.metrics.fidelity import Reference, kid
from dcgan.metrics.train_extractor import train_extractor
from dcgan.models import Discriminator
from dcgan.options import opt
from dcgan.sampling import load, sample

TAR = SHARED / "celeba_aligned_00.tar"
IDENTITIES = SHARED / "identity_CelebA.txt"
FIRST_TEST = 182_638  # CelebA's official test partition starts here


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    size: int = opt(64, "image side in px")
    width: int = opt(64, "ngf = ndf")
    steps: int = opt(5000, "training steps of every run")
    batch_size: int = opt(64)
    subsets: tuple[int, ...] = opt((1000, 5000, 0), "training-set sizes; 0 = the whole pool")
    arms: str = opt("none,diffaugment,ada", "comma list of --augment values")
    seeds: tuple[int, ...] = opt((0, 1, 2), "run seeds")
    n_eval: int = opt(500, "samples per run for KID and D's fake accuracy")
    threads: int = opt(1, "torch threads")
    work: str = opt("", "folder for data and runs (default: a temporary one)")
    json: str = opt(str(results_path("augment_celeba")))
    reuse: str = opt("", "comma list of results JSONs of this script whose cells are taken over")


SAME = ("size", "width", "steps", "batch_size", "seeds", "n_eval")  # what a reused cell must share
JUDGED = ("kid", "d_real_held_out", "d_real_train", "d_fake")  # what a rerun seed must reproduce


def reuse_files(paths: str, args: Args) -> list[tuple[str, dict]]:
    """The earlier results named by --reuse, each read and checked for the same settings
    before anything is trained. Anything unreadable or different: a one-line exit."""
    mine = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(args).items()}
    out = []
    for path in [p.strip() for p in paths.split(",") if p.strip()]:
        try:
            old = json.loads(Path(path).read_text())
            differ = [k for k in SAME if old["args"][k] != mine[k]]
            if not isinstance(old["cells"], dict) or "accuracy" not in old["extractor"]:
                raise KeyError("cells or extractor accuracy")
        except (OSError, ValueError, KeyError, TypeError) as e:
            sys.exit(f"--reuse {path}: not a results file of this script ({e!r})")
        if differ:
            sys.exit(
                f"--reuse {path}: other settings ({', '.join(differ)}); its cells do not compare"
            )
        out.append((path, old))
    return out


def taken_over(files: list[tuple[str, dict]], extractor: dict) -> dict[str, dict]:
    """The cells of `files` (the first file that has a cell gives it), if every file was
    judged by the same extractor as this run: the same weights' digest where both recorded
    one, else the same held-out accuracy to the last digit. Else a one-line exit."""
    cells: dict[str, dict] = {}
    for path, old in files:
        theirs = old["extractor"]
        if "sha256" in theirs and theirs["sha256"] != extractor["sha256"]:
            sys.exit(f"--reuse {path}: its extractor had other weights: its KIDs do not compare")
        if theirs["accuracy"] != extractor["accuracy"]:
            sys.exit(
                f"--reuse {path}: its extractor had accuracy {theirs['accuracy']}, "
                f"this one {extractor['accuracy']}: its KIDs do not compare"
            )
        for key, cell in old["cells"].items():
            cells.setdefault(key, {**cell, "from": cell.get("from", path)})
    return cells


def reproduced(old: dict, new: dict) -> list[str]:
    """The judged numbers on which a rerun seed `new` differs from its earlier run `old`."""
    return [k for k in JUDGED if not math.isclose(old[k], new[k], rel_tol=1e-6, abs_tol=1e-9)]


def digest(net: torch.nn.Module) -> str:
    """sha256 of a net's weights (not of its file, whose metadata names the work folder)."""
    h = hashlib.sha256()
    for name, t in sorted(net.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def read_faces(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uint8 images N x size x size x 3, CelebA numbers, identity ids) of the tar."""
    ids = {}
    for line in IDENTITIES.read_text().splitlines():
        name, ident = line.split()
        ids[int(name.split(".")[0])] = int(ident)
    images, numbers = [], []
    with tarfile.open(TAR) as tf:
        for m in tf.getmembers():
            img = Image.open(tf.extractfile(m)).convert("RGB")
            w, h = img.size
            s = min(w, h)
            box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
            images.append(np.asarray(img.crop(box).resize((size, size), Image.LANCZOS)))
            numbers.append(int(Path(m.name).stem))
    numbers_a = np.array(numbers)
    return np.stack(images), numbers_a, np.array([ids[n] for n in numbers])


def save_npz(path: Path, images: np.ndarray, labels: np.ndarray | None = None) -> Path:
    arrays = {"x_train": images}
    if labels is not None:
        arrays["y_train"] = np.unique(labels, return_inverse=True)[1].astype(np.int64)
    np.savez(path, **arrays)
    return path


@torch.no_grad()
def d_accuracy(d: Discriminator, images: torch.Tensor, real: bool) -> float:
    """The share of `images` (uint8) D puts on the right side, batch statistics of 64."""
    d = copy.deepcopy(d).train()
    logits = torch.cat([d(to_unit_range(b)) for b in images.split(64)])
    return float(((logits > 0) if real else (logits < 0)).float().mean())


def judge(run: Path, extractor, held: Reference, held_u8, train_u8, n: int) -> dict:
    model = load(run, ema=False)
    fake = quantize(sample(model, range(n)))
    ckpt = load_checkpoint(run)
    d = Discriminator(model.config.model)
    d.load_state_dict(ckpt["D"])
    k = kid(extractor(fake), held)
    return {
        "kid": k["kid_mean"],
        "d_real_held_out": d_accuracy(d, held_u8, True),
        "d_real_train": d_accuracy(d, train_u8, True),
        "d_fake": d_accuracy(d, fake, False),
        "augment_p": (ckpt.get("augment") or {}).get("p"),
    }


def gap(runs: list[dict]) -> dict:
    """D's real accuracy on training faces minus on held-out ones, over the seeds: the
    overfitting signal."""
    return stats([r["d_real_train"] - r["d_real_held_out"] for r in runs])


def train_run(args: Args, data: Path, out: Path, arm: str, seed: int) -> Path:
    """One training run of the bench (the paper's recipe, `--augment arm`): its folder."""
    config = TrainConfig(
        data=str(data),
        out=str(out),
        model=ModelConfig(size=args.size, channels=3, ngf=args.width, ndf=args.width),
        batch_size=args.batch_size,
        steps=args.steps,
        seed=seed,
        augment=arm,
        precision="fp32",  # the published figures predate bf16 as the CPU default
        sample_every=10**9,
        checkpoint_every=10**9,
        health_every=0,
        progress=False,
        cache=str(CACHE),
    )
    return train(config).run_dir


def stats(values: list[float]) -> dict:
    a = np.asarray(values, dtype=float)
    return {"mean": round(float(a.mean()), 4), "std": round(float(a.std()), 4), "runs": a.tolist()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, __doc__, argv)
    if not TAR.is_file() or not IDENTITIES.is_file():
        print(f"{TAR} or {IDENTITIES} is absent", file=sys.stderr)
        return 2
    files = reuse_files(args.reuse, args)  # settings checked before anything is trained
    torch.set_num_threads(args.threads)
    start = time.monotonic()
    tmp = tempfile.TemporaryDirectory()
    work = Path(args.work or tmp.name)
    work.mkdir(parents=True, exist_ok=True)

    def log(text: str) -> None:
        print(f"[{time.monotonic() - start:6.0f} s] {text}", flush=True)

    images, numbers, identities = read_faces(args.size)
    held = numbers >= FIRST_TEST
    pool = np.flatnonzero(~held)
    pool = pool[np.random.default_rng(0).permutation(len(pool))]
    held_u8 = torch.from_numpy(images[held]).permute(0, 3, 1, 2).contiguous()
    log(f"{len(images)} faces: {len(pool)} in the training pool, {int(held.sum())} held out")
    extractor_path = work / "celeba_identity_cnn.pt"
    info = train_extractor(  # seeded (seed 0): every run of this script judges with one net
        save_npz(work / "pool_labelled.npz", images[pool], identities[pool]),
        extractor_path,
        epochs=5,
        cache=str(work / "cache"),
    )
    extractor = ClassifierExtractor(extractor_path)
    info = {k: v for k, v in info.items() if k != "path"} | {"sha256": digest(extractor.net)}
    held_ref = Reference.of(extractor(held_u8))
    log(f"extractor: {json.dumps(info)[:200]}")
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    old = taken_over(files, info)
    checked: set[str] = set()  # the files whose first taken-over cell was rerun
    cells: dict[str, dict] = {}
    for k in args.subsets:
        chosen = pool if k == 0 else pool[:k]
        data = save_npz(work / f"celeba{len(chosen)}.npz", images[chosen])
        train_u8 = torch.from_numpy(images[chosen[: len(held_u8)]]).permute(0, 3, 1, 2)
        n = len(chosen)

        def run_seed(arm: str, seed: int, data=data, train_u8=train_u8, n=n) -> dict:
            run = train_run(args, data, work / "runs", arm, seed)
            row = {"seed": seed, **judge(run, extractor, held_ref, held_u8, train_u8, args.n_eval)}
            log(f"{n} images, {arm}, seed {seed}: {row}")
            return row

        for arm in arms:
            key = f"{n}/{arm}"
            if key in old:
                source = old[key]["from"]
                if source not in checked:
                    earlier = next(r for r in old[key]["runs"] if r["seed"] == args.seeds[0])
                    differ = reproduced(earlier, run_seed(arm, args.seeds[0]))
                    if differ:
                        sys.exit(
                            f"--reuse {source}: seed {args.seeds[0]} of {key} came out other "
                            f"({', '.join(differ)}): its cells do not compare"
                        )
                    checked.add(source)
                    old[key]["reproduced"] = {"seed": args.seeds[0], "judged": list(JUDGED)}
                cells[key] = old[key] | {"gap": gap(old[key]["runs"])}
                log(f"{n} images, {arm}: taken over from {source}")
            else:
                rows = [run_seed(arm, seed) for seed in args.seeds]
                cells[key] = {
                    "images": n,
                    "augment": arm,
                    "epochs": round(args.steps * args.batch_size / n, 1),
                    **{j: stats([r[j] for r in rows]) for j in JUDGED},
                    "gap": gap(rows),
                    "runs": rows,
                }
            record = {
                "args": vars(args),
                "held_out": int(held.sum()),
                "pool": len(pool),
                "extractor": info,
                "cells": cells,
                "seconds": round(time.monotonic() - start, 1),
            }
            write_results(args.json, record)  # after every cell: a cut-short run keeps its cells
    header = ["images", "augment", "epochs", "KID", "D real: held-out", "D real: train"]
    header += ["gap", "D fake"]
    table = []
    for c in cells.values():

        def ms(key: str, c=c) -> str:
            return f"{c[key]['mean']:.3f} ± {c[key]['std']:.3f}"

        table.append(
            [
                c["images"],
                c["augment"],
                c["epochs"],
                ms("kid"),
                ms("d_real_held_out"),
                ms("d_real_train"),
                ms("gap"),
                ms("d_fake"),
            ]
        )
    print_table(header, table)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
