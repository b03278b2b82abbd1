"""Issue 6 on the 64 px CelebA model: latent walk, smile arithmetic and the NN check.

Reuses the run trained by bench/celeba64.py (500 steps = 10.9 epochs on the 5,999-image
tar, ngf=ndf=32, G's EMA; 32 min on one CPU thread). Writes docs/latent_walk.png,
docs/latent_arithmetic.png, docs/latent_turn.png, docs/latent_neighbors.png and
bench/results/latent_celeba.json (--parts reruns some and keeps the others' numbers).

    python bench/latent_celeba.py --run bench/runs/00003-celeba_aligned_0064 [--parts turn]
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from harness import CACHE, ROOT, SHARED, parse_args, results_path, shrink, write_results

from dcgan.experiments.latent import (
    arithmetic,
    auto_smile_concepts,
    interpolate,
    smile_test,
    turn,
)
from dcgan.experiments.neighbors import neighbors
from dcgan.options import opt
from dcgan.sampling import load, save_grid


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    run: str = opt(str(ROOT / "bench" / "runs" / "00003-celeba_aligned_0064"))
    data: str = opt(str(SHARED / "celeba_aligned_00.tar"))
    cache: str = opt(str(CACHE))
    docs: str = opt(str(ROOT / "docs"))
    parts: str = opt("walk,smile,turn,neighbors", "what to (re)run")


def main() -> None:
    args = parse_args(Args, __doc__)
    docs, parts, t0 = Path(args.docs), args.parts.split(","), time.time()
    out = results_path("latent_celeba")
    results: dict = json.loads(out.read_text()) if out.exists() else {}
    model = load(args.run)
    results.update(run=Path(args.run).name, step=model.step)

    # Fig. 4: 5 points, 6 steps between each, slerp; the PNG only (the GIF is large).
    if "walk" in parts:
        walk = interpolate(model, [11, 22, 33, 44, 55], segment_steps=6, spherical=True)
        walk.save(docs / "latent_walk.png")
        (docs / "latent_walk.gif").unlink()
        (docs / "latent_walk.json").unlink()

    # Fig. 7, hands-off: concepts from the smile cascade, then the smile-vector number.
    if "smile" in parts:
        concepts = auto_smile_concepts(model)
        arithmetic(model, "A - B + C", concepts).save(docs / "latent_arithmetic.png")
        (docs / "latent_arithmetic.json").unlink()
        test = smile_test(model, pool=400, n=200)
        results["arithmetic_concepts"] = concepts
        results["smile"] = {
            k: v for k, v in test.items() if k not in ("smile_vector", "test_seeds")
        }

    # Fig. 8: turn vector from the profile cascade; 20 rows, 8 of them in the picture.
    if "turn" in parts:
        images, record = turn(model, pose="profile", pool=400, rows=20, frames=7, scale=2.0)
        save_grid(images[: 8 * 7], docs / "latent_turn.png", 7)
        results["turn"] = {k: record[k] for k in ("scale", "vector_norm", "turn_success")}
        results["turn"].update(left=len(record["left"]), right=len(record["right"]), rows=20)

    # Memorisation: 500 samples vs the tar's last 500 images, against its first 5,499.
    if "neighbors" in parts:
        nn = neighbors(
            model, args.data, n=6, k=5, ratio_samples=500, held_out=500, cache=args.cache
        )
        nn.save(docs / "latent_neighbors.png")
        (docs / "latent_neighbors.json").unlink()
        results["neighbors"] = {"distance": nn.distance, "ratio": nn.record()["ratio"]}
    for name in ("walk", "arithmetic", "turn", "neighbors"):
        if (docs / f"latent_{name}.png").exists():
            shrink(docs / f"latent_{name}.png")
    results.setdefault("seconds", {})[args.parts] = round(time.time() - t0, 1)
    write_results(out, results, indent=1)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
