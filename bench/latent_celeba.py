"""Issue 6 on the 64 px CelebA model: latent walk, smile arithmetic and the NN check.

Reuses the run trained by bench/celeba64.py (500 steps = 10.9 epochs on the 5,999-image
tar, ngf=ndf=32, G's EMA; 32 min on one CPU thread). Writes docs/latent_walk.png,
docs/latent_arithmetic.png, docs/latent_turn.png, docs/latent_neighbors.png and
bench/results/latent_celeba.json (--parts reruns some and keeps the others' numbers).

    python bench/latent_celeba.py --run bench/runs/00003-celeba_aligned_0064 [--parts turn]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from PIL import Image

from dcgan.experiments.latent import (
    arithmetic,
    auto_smile_concepts,
    interpolate,
    smile_test,
    turn,
)
from dcgan.experiments.neighbors import neighbors
from dcgan.io import atomic_write, atomic_write_text
from dcgan.sampling import load, save_grid

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def shrink(path: Path) -> None:
    """Keep the docs' pictures small: 256-colour palette PNGs."""
    image = Image.open(path).convert("RGB").quantize(256)
    atomic_write(path, lambda f: image.save(f, format="PNG", optimize=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--run", default=str(ROOT / "bench" / "runs" / "00003-celeba_aligned_0064"))
    ap.add_argument("--data", default=str(SHARED / "celeba_aligned_00.tar"))
    ap.add_argument("--cache", default=str(ROOT / ".cache" / "dcgan"))
    ap.add_argument("--docs", default=str(ROOT / "docs"))
    ap.add_argument("--parts", default="walk,smile,turn,neighbors", help="what to (re)run")
    args = ap.parse_args()
    docs, parts, t0 = Path(args.docs), args.parts.split(","), time.time()
    out = ROOT / "bench" / "results" / "latent_celeba.json"
    results: dict = json.loads(out.read_text()) if out.exists() else {}
    model = load(args.run)
    results.update(run=Path(args.run).name, step=model.step)

    # Fig. 4: 5 points, 6 steps between each, slerp; the PNG only (the GIF is large).
    if "walk" in parts:
        walk = interpolate(model, [11, 22, 33, 44, 55], steps=6, spherical=True)
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
        images, record = turn(model, pool=400, rows=20, frames=7, scale=2.0)
        save_grid(images[: 8 * 7], docs / "latent_turn.png", 7)
        results["turn"] = {k: record[k] for k in ("scale", "vector_norm", "turn_success")}
        results["turn"].update(left=len(record["left"]), right=len(record["right"]), rows=20)

    # Memorisation: 500 samples vs the tar's last 500 images, against its first 5,499.
    if "neighbors" in parts:
        nn = neighbors(model, args.data, n=6, k=5, n_stats=500, held_out=500, cache=args.cache)
        nn.save(docs / "latent_neighbors.png")
        (docs / "latent_neighbors.json").unlink()
        results["neighbors"] = {"distance": nn.distance, "ratio": nn.record()["ratio"]}
    for name in ("walk", "arithmetic", "turn", "neighbors"):
        if (docs / f"latent_{name}.png").exists():
            shrink(docs / f"latent_{name}.png")
    results.setdefault("seconds", {})[args.parts] = round(time.time() - t0, 1)
    atomic_write_text(out, json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
