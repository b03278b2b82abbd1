"""The quality/diversity trade-off of `--truncation psi` on the DigiFace-1M DCGAN.

The model is the 64 px DigiFace generator in the data folder beside the repository
(pretrained/digiface64_dcgan; z ~ N(0, I), BatchNorm running statistics). No DigiFace photos
are on disk, so the reference distribution is the model's own untruncated output:

- quality: the share of samples in which dlib's HOG face detector finds a face (the judge of
  docs/digiface.md: images enlarged to 128 px, dcgan.experiments.landmarks);
- diversity: precision and recall (Kynkäänniemi et al. 2019, k = 3, dcgan.metrics.fidelity)
  and FID, in the 128-d features of dlib's face-recognition ResNet (its weights ship in
  `face-recognition-models`, the `landmarks` extra), of the truncated samples against
  `reference` untruncated samples from seeds no draw uses; and the mean pairwise distance of
  those features (0.6 is dlib's same-person threshold).

Each draw is a disjoint block of seeds (draw d: seeds d * 100000 ...), the same seeds at every
psi; the spread is over draws. Nothing here was tuned: the psi grid was fixed beforehand.

Run: python bench/truncation_digiface.py  (writes bench/results/truncation_digiface.json and
docs/truncation_digiface.png, docs/truncation_faces.png; --quick for a smoke run).
"""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from harness import (
    ROOT,
    SHARED,
    converted,
    parse_args,
    print_table,
    results_path,
    shrink,
    write_results,
)

from dcgan.conventions import truncate, z_from_seeds
from dcgan.experiments.landmarks import face_boxes, models_folder
from dcgan.extras import require
from dcgan.metrics.fidelity import Features, Reference, fid, precision_recall
from dcgan.options import opt
from dcgan.sampling import generate, grid_image, save_png

WEIGHTS = SHARED / "pretrained/digiface64_dcgan/weights.tar"
BN = "running"
REFERENCE_SEED = 900_000


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    weights: str = opt(str(WEIGHTS))
    psi: tuple[float, ...] = opt((0.3, 0.5, 0.7, 0.85, 1.0), "truncation values")
    n: int = opt(200, "samples per draw and psi")
    reference: int = opt(500, "untruncated reference samples")
    draws: int = opt(3, "draws of seeds (the spread)")
    threads: int = opt(1, "torch threads")
    json: str = opt(str(results_path("truncation_digiface")))
    docs: str = opt(str(ROOT / "docs"))
    quick: bool = opt(False, "tiny counts, for a smoke run")


@functools.cache
def _dlib():
    """dlib's 68-point predictor and face-recognition network."""
    dlib, models = require("landmarks", "dlib"), models_folder()
    return (
        dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat")),
        dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat")),
    )


def judge(images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(face found per image, 128-d face descriptor per image): the descriptor is taken on the
    detected box, or on the median box of the found faces when none is found."""
    predictor, facerec = _dlib()
    big, boxes, fallback = face_boxes(images)
    desc = []
    for b, r in zip(big, boxes, strict=True):
        shape = predictor(b, r if r is not None else fallback)
        desc.append(np.asarray(facerec.compute_face_descriptor(b, shape), dtype=np.float64))
    return np.array([r is not None for r in boxes]), np.stack(desc)


def judged(model, seeds: list[int], psi: float) -> tuple[np.ndarray, np.ndarray]:
    z = truncate(z_from_seeds(seeds, model.generator.config.nz, model.config.z_dist), psi)
    found, desc = [], []
    for chunk in z.split(250):
        f, d = judge(generate(model.generator, chunk, BN, model.config.z_dist))
        found.append(f)
        desc.append(d)
    return np.concatenate(found), np.concatenate(desc)


def pairwise(desc: np.ndarray) -> float:
    d = np.sqrt(((desc[:, None] - desc[None]) ** 2).sum(-1))
    return float(d[np.triu_indices(len(desc), 1)].mean())


def spread(values: list[float]) -> dict:
    a = np.asarray(values, dtype=float)
    return {"mean": round(float(a.mean()), 4), "std": round(float(a.std()), 4), "draws": a.tolist()}


def plot(record: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    psi = [r["psi"] for r in record["curve"]]
    fig, ax = plt.subplots(figsize=(4.6, 3.0), dpi=100)
    for key, label in (
        ("found", "faces found (quality)"),
        ("precision", "precision"),
        ("recall", "recall (diversity)"),
    ):
        m = [r[key]["mean"] for r in record["curve"]]
        s = [r[key]["std"] for r in record["curve"]]
        ax.errorbar(psi, m, yerr=s, marker="o", ms=3, capsize=2, label=label)
    ax.set_xlabel("truncation ψ")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("DigiFace DCGAN: truncation, 3 draws (mean ± std)", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    shrink(out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, __doc__, argv)
    if args.quick:
        args.n, args.reference, args.draws = 40, 60, 2
    if not Path(args.weights).is_file():
        print(f"{args.weights} is absent", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    start = time.monotonic()
    model = converted(args.weights)
    ref_seeds = list(range(REFERENCE_SEED, REFERENCE_SEED + args.reference))
    ref_found, ref_desc = judged(model, ref_seeds, 1.0)
    reference = Reference.of(Features(torch.from_numpy(ref_desc)))
    print(f"[{time.monotonic() - start:5.0f} s] reference: {ref_found.mean():.3f} faces found")
    rows: dict[float, dict[str, list[float]]] = {p: {} for p in args.psi}
    for draw in range(args.draws):
        seeds = list(range(draw * 100_000, draw * 100_000 + args.n))
        for psi in args.psi:
            found, desc = judged(model, seeds, psi)
            feats = Features(torch.from_numpy(desc))
            pr = precision_recall(feats, reference)
            got = {
                "found": float(found.mean()),
                "precision": pr["precision"],
                "recall": pr["recall"],
                "fid": fid(feats, reference)["fid"],
                "pairwise": pairwise(desc),
            }
            for k, v in got.items():
                rows[psi].setdefault(k, []).append(v)
            print(f"[{time.monotonic() - start:5.0f} s] draw {draw} psi {psi}: {got}", flush=True)
    curve = [{"psi": p, **{k: spread(v) for k, v in rows[p].items()}} for p in args.psi]
    record = {
        "model": "DigiFace-1M DCGAN (pytorch/examples layout), 64 px, z ~ N(0, I)",
        "bn": BN,
        "rule": "z * psi (scaled toward the prior's mean, dcgan.conventions.truncate)",
        "reference": {
            "seeds": f"{ref_seeds[0]}-{ref_seeds[-1]}",
            "psi": 1.0,
            "found": float(ref_found.mean()),
            "pairwise": pairwise(ref_desc),
        },
        "draws": [f"{d * 100_000}-{d * 100_000 + args.n - 1}" for d in range(args.draws)],
        "args": {k: v for k, v in vars(args).items() if k not in ("json", "docs")},
        "curve": curve,
        "seconds": round(time.monotonic() - start, 1),
    }
    header = ["psi", "faces found", "precision", "recall", "FID (dlib)", "pairwise dist"]
    table = [
        [r["psi"]] + [f"{r[k]['mean']:.3f} ± {r[k]['std']:.3f}" for k in header_keys()]
        for r in curve
    ]
    print_table(header, table)
    write_results(args.json, record)
    if not args.quick:
        docs = Path(args.docs)
        plot(record, docs / "truncation_digiface.png")
        z = z_from_seeds(list(range(8)), model.generator.config.nz, model.config.z_dist)
        strip = torch.cat([truncate(z, p) for p in args.psi])  # one row per psi
        images = generate(model.generator, strip, BN, model.config.z_dist)
        save_png(grid_image(images, 8), docs / "truncation_faces.png")
        shrink(docs / "truncation_faces.png")
    return 0


def header_keys() -> list[str]:
    return ["found", "precision", "recall", "fid", "pairwise"]


if __name__ == "__main__":
    sys.exit(main())
