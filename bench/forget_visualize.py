"""Issue 6 on the 64 px CelebA model: `forget` with eye boxes and `visualize` on real faces.

Forget: eye boxes from the eye cascade on seeds 0..149, the logistic regression on G's
second-highest conv layer (16x16x64); for comparison on the highest hidden one (32x32x32),
and with BatchNorm above the layer re-estimated without the maps. Then the eye-detection
rate on 1,000 new samples (seeds 100000..100999) intact, without the maps of weight > 0,
and without as many random maps (8 draws), with the mean pixel change of each. Visualize:
guided backprop of the top-4 channels of D's last conv layer on 6 real CelebA faces,
trained D vs a random D. Writes docs/forget_eyes.png, docs/visualize_d.png and
bench/results/forget_visualize.json; prints a table (about 20 min on the shared 2-core CPU).

    python bench/forget_visualize.py --run bench/runs/00003-celeba_aligned_0064
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from harness import CACHE, ROOT, SHARED, parse_args, shrink, write_results

from dcgan.experiments.detect import eyes
from dcgan.experiments.forget import detected_boxes, forget, hit_rates
from dcgan.experiments.visualize import visualize
from dcgan.options import opt
from dcgan.sampling import load


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    run: str = opt(str(ROOT / "bench" / "runs" / "00003-celeba_aligned_0064"))
    data: str = opt(str(SHARED / "celeba_aligned_00.tar"))
    cache: str = opt(str(CACHE))
    docs: str = opt(str(ROOT / "docs"))
    n_test: int = opt(1000, "samples of the hit-rate test")
    controls: int = opt(8, "random-map draws per variant")


def main() -> None:
    args = parse_args(Args, __doc__)
    docs, t0 = Path(args.docs), time.time()
    model = load(args.run)
    results: dict = {"run": Path(args.run).name, "step": model.step, "forget": {}}

    boxes = detected_boxes(model, list(range(150)), eyes)
    results["boxes"] = {
        "samples": 150,
        "with_eyes": sum(bool(b) for b in boxes.values()),
        "eye_boxes": sum(map(len, boxes.values())),
    }
    rows = []
    for layer, renormalise in ((2, False), (1, False), (2, True)):
        r = forget(model, boxes, layer=layer, renormalize=renormalise)
        rates = hit_rates(model, r, eyes, n=args.n_test, controls=args.controls)
        if (layer, renormalise) == (2, False):
            r.save(docs / "forget_eyes.png")
            (docs / "forget_eyes.json").unlink()
        results["forget"][f"layer{layer}" + ("_renormalised" if renormalise else "")] = {
            "shape": [r.maps, r.side, r.side],
            **r.counts,
            "train_accuracy": round(r.accuracy, 4),
            "dropped": len(r.dropped),
            "before": rates["before"],
            "after": rates["after"],
            "random": {
                k: rates["random"][k] for k in ("rate", "per_image", "pixel_change", "draws")
            },
        }
        rows.append((layer, r, rates))

    v = visualize(model, args.data, images=6, top_channels=4, cache=args.cache)
    v.save(docs / "visualize_d.png")
    (docs / "visualize_d.json").unlink()
    results["visualize"] = {
        k: v.record()[k] for k in ("images", "channels", "focus_top10", "random_seed")
    }
    for name in ("forget_eyes", "visualize_d"):
        shrink(docs / f"{name}.png")
    results["seconds"] = round(time.time() - t0, 1)
    out = write_results("forget_visualize", results, indent=1)

    print(f"eye boxes: {results['boxes']}")
    print(
        "| layer | BatchNorm above | dropped | acc | eyes intact | without maps | without random |"
    )
    print("|---|---|---|---|---|---|---|")
    for layer, r, rates in rows:
        after, random = rates["after"], rates["random"]
        draws = [d["rate"] for d in random["draws"]]
        print(
            f"| {layer} ({r.maps}x{r.side}x{r.side}) | "
            f"{'re-estimated' if r.renormalise else 'as trained'} | {len(r.dropped)} of {r.maps} | "
            f"{r.accuracy:.3f} | {rates['before']['rate']:.3f} | "
            f"{after['rate']:.3f} (change {after['pixel_change']:.3f}) | "
            f"{random['rate']:.3f} ({min(draws):.3f}-{max(draws):.3f}; "
            f"change {random['pixel_change']:.3f}) |"
        )
    print(
        f"visualize: focus (top-10% share of gradient mass) {results['visualize']['focus_top10']}"
    )
    print(f"{results['seconds']} s; written to {out}")


if __name__ == "__main__":
    main()
