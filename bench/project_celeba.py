"""`dcgan project` on a CelebA DCGAN trained by this toolkit (issue 31), everything held out.

The companion of bench/project_faces.py (the DigiFace model), with its measures:
(a) Recovery: G's own samples (seeds 6,000,000+), whose z is known, projected back: pixel
    error of G(z found) and how close z comes, against the best of N random z.
(b) Real photos: faces of CelebA's official test partition (one per person), which the model
    never saw, projected: pixel error and dlib identity distance, against the best of N random
    z by pixel distance; for scale, the identity distance of two real photos of one person
    and of two different people.
Part (c) of project_faces (the glasses vector) needs DigiFace's exemplars and is not run.

The model: a 64 px DCGAN (ngf = ndf = 64, bf16, EMA 0.999, seed 0, 40 epochs of batch 128)
trained on the 5,340 faces of the shared CelebA tar outside the test partition (numbers below
182,638), each photo centre-cropped to its 178 px square and resized (Lanczos) to 64 px, as
bench/augment_celeba.py's `read_faces(64)` does; the photos here are prepared the same way.
G is the EMA generator with BatchNorm on the fixed reference batch (`--bn batch`, the default
of `dcgan sample` and `dcgan project` for this toolkit's runs). The model has a D, so the
search's distance is `dcgan project`'s default for such a model: pixels + D's features
(feature weight 1). lr, norm weight and the encoder are those the DigiFace dev phase chose
(bench/results/project_faces_dev.json), restarts and search steps those of its held-out run:
nothing is tuned on this model or these photos.

Run: python bench/project_celeba.py --run RUN_DIR (writes bench/results/project_celeba.json).
"""

from __future__ import annotations

import io
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from harness import CACHE, SHARED, parse_args, results_path, write_results
from PIL import Image
from project_faces import HELD_SEED, celeba, held_out_photos, real, recovery

from dcgan.conventions import to_unit_range
from dcgan.options import opt
from dcgan.sampling import load

BN = "batch"  # the reference batch: `dcgan sample`'s default for the toolkit's own runs
RUN = CACHE / "celeba64_model" / "runs" / "00000-celeba_train6464"


@dataclass
class Args:
    run: str = opt(str(RUN), "run directory or checkpoint of the CelebA 64 px model")
    n: int = opt(16, "images of each kind")
    restarts: int = opt(4)
    search_steps: int = opt(200)
    random_n: int = opt(512, "random z of the control; the closest is kept")
    encoder_steps: int | None = opt(None, "override the dev choice's encoder steps (smoke tests)")
    celeba: str = opt(str(SHARED / "celeba_aligned_00.tar"))
    identities: str = opt(str(SHARED / "identity_CelebA.txt"))
    threads: int = opt(1)


def centre_photos(items: list[tuple[int, int, bytes]], size: int = 64) -> torch.Tensor:
    """As the model's training set: the centre square, Lanczos to `size` px, in [-1, 1]."""
    arrays = []
    for *_, b in items:
        img = Image.open(io.BytesIO(b)).convert("RGB")
        w, h = img.size
        s = min(w, h)
        box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
        face = np.asarray(img.crop(box).resize((size, size), Image.LANCZOS))
        arrays.append(torch.from_numpy(face.copy()).permute(2, 0, 1))
    return to_unit_range(torch.stack(arrays))


def held_out(model, args: Args, data: list, settings: dict) -> tuple[dict, str]:
    """Parts (a) and (b) on the held-out seeds and photos of project_faces.held_out."""
    seeds = list(range(HELD_SEED, HELD_SEED + args.n))
    rec = recovery(model, seeds, settings, args.random_n, BN)
    test, others = held_out_photos(data, args.n)
    photo, (_, p, _) = real(model, test, settings, args.random_n, others, BN, centre_photos)
    return {"recovery": rec, "real_photos": photo}, p.measure


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, __doc__, argv)
    for f in (args.celeba, args.identities):
        if not Path(f).is_file():
            print(f"{f} is absent", file=sys.stderr)
            return 2
    if not Path(args.run).exists():
        print(f"{args.run} is absent: train the CelebA model first", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    start = time.monotonic()
    model = load(args.run)
    choice = json.loads(results_path("project_faces_dev").read_text())["choice"]
    if args.encoder_steps is not None:
        choice = {**choice, "encoder_steps": args.encoder_steps}
    settings = {"search_steps": args.search_steps, "restarts": args.restarts, **choice}
    record: dict = {
        "model": (
            "CelebA DCGAN trained by this toolkit: 64 px, ngf = ndf = 64, bf16, EMA 0.999, "
            "seed 0, 40 epochs of batch 128 on the 5,340 shared-tar faces outside the test "
            "partition (centre 178 px square, Lanczos to 64 px)"
        ),
        "run": str(args.run),
        "step": model.step,
        "ema": model.ema,
        "z_dist": model.config.z_dist,
        "bn": BN,
        "settings": settings,
        "settings_from": "bench/results/project_faces_dev.json (DigiFace dev phase)",
        "args": vars(args),
    }
    data = celeba(args.celeba, args.identities)
    result, measure = held_out(model, args, data, settings)
    record["distance"] = measure
    record.update(result)
    print(json.dumps(result, indent=1))
    record["seconds"] = round(time.monotonic() - start)
    print(f"written to {write_results('project_celeba', record)} in {record['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
