"""Every §6 claim of the paper on a well-trained face generator, each against its control.

The model is the DigiFace-1M DCGAN in the data folder beside the repository
(pretrained/digiface64_dcgan: the PyTorch tutorial's architecture, converted with `dcgan
convert`). Detectors: dlib's 68 facial
landmarks (dcgan.experiments.landmarks: yaw, open mouth, glasses, eye boxes) and OpenCV's
Haar eye cascade (dcgan.experiments.detect.eyes) for the forgetting hit rate. Exemplars,
vectors, the turn rule and the eye boxes are dcgan.experiments.concepts', the functions of
`dcgan arithmetic --auto glasses|mouth-open`, `dcgan turn` and `dcgan forget --auto
landmark-eyes`.

- paper §6.3.2 arithmetic: a concept vector = mean z of 3 exemplars with the attribute minus
  mean z of 3 without (chosen by the detector among seeds 0..pool-1), added to `test` faces
  without it; the rate at which the detector then sees it, against random vectors of the
  same norm (`draws` draws).
- Fig. 8 turn: turn vector = mean z of the `turn_k` most right- minus most left-turned faces;
  `rows` faces moved from z - s v to z + s v; the share of rows whose yaw moves monotonically
  in v's direction by >= 15 degrees, against random directions of the same norm (either
  direction counts for those).
- paper §6.3.1 forgetting: eye boxes on 150 samples, the logistic regression of
  dcgan.experiments.forget, every positive-weight map dropped; the eye-detection rate on
  `forget_n` new samples, against as many random maps (`draws` draws), and the mean pixel
  change outside the eye boxes. Variants: the layer, the top-k maps, an L1 fit.
- paper §6.1: a walk through z, and a screenshot of `dcgan explore` on the model with the
  turn and glasses vectors as directions (headless chromium; skipped without it).

Run: python bench/digiface_latent.py  (writes
bench/results/digiface_latent.json and docs/digiface_*.png; --quick for a smoke run).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from digiface_forget import forget_setup, forget_tests
from digiface_vectors import ATTRS, BN, arithmetic_test, images_of, pool_faces, turn_test
from harness import ROOT, SHARED, converted, parse_args, results_path, write_results

from dcgan.experiments.landmarks import GLASSES, MOUTH_OPEN
from dcgan.experiments.latent import interpolate, latents
from dcgan.options import opt
from dcgan.sampling import grid_image, save_png
from dcgan.torch_examples import convert_examples

WEIGHTS = SHARED / "pretrained/digiface64_dcgan/weights.tar"


# paper §6.1: the explorer --------------------------------------------------------------------


def explore_figure(weights: str, record: dict, turn_v: torch.Tensor, out: Path) -> str:
    """A screenshot of `dcgan explore` on the model: a walk, the glasses arithmetic of the
    record and a face moved along the turn vector."""
    import shutil
    import threading

    from explore_celeba import screenshot

    from dcgan.explore import Engine, make_server

    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        return "explorer screenshot skipped: no chromium/chromedriver"
    g = record["arithmetic"]["glasses"]["exemplars"]
    a, b, c = (",".join(map(str, g[k])) for k in ("with", "without", "C"))
    view = f"g=0&p=0,1,2,3,4,5&w=0,1,2,3&m=lerp&s=8&wf=12&A={a}&B={b}&C={c}"
    view += "&d=turn&ds=400006&dx=1&dn=9&df=7"
    with tempfile.TemporaryDirectory() as tmp:
        convert_examples(weights, Path(tmp) / "digiface.pt")
        (Path(tmp) / "turn.json").write_text(json.dumps({"turn_vector": turn_v.tolist()}))
        engine = Engine(Path(tmp) / "digiface.pt", bn=BN, directions=[Path(tmp) / "turn.json"])
    server = make_server(engine, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        screenshot(f"http://127.0.0.1:{server.server_address[1]}/", out, view)
    finally:
        server.shutdown()
    return f"explorer screenshot written to {out}"


# main --------------------------------------------------------------------------------------


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    weights: str = opt(str(WEIGHTS))
    pool: int = opt(600)
    test: int = opt(200)
    draws: int = opt(8)
    rows: int = opt(40)
    frames: int = opt(7)
    scale: float = opt(1.0)
    turn_k: int = opt(20)
    forget_boxes: int = opt(150)
    forget_n: int = opt(300)
    layers: tuple[int, ...] = opt((2, 1, 3), "D layers, e.g. 2,1,3")
    top_k: tuple[int, ...] = opt((10, 30), "e.g. 10,30")
    json: str = opt(str(results_path("digiface_latent")))
    docs: str = opt(str(ROOT / "docs"))
    quick: bool = opt(False, "tiny counts, for a smoke run")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, __doc__, argv)
    if args.quick:
        args.pool, args.test, args.draws, args.rows = 120, 20, 2, 4
        args.forget_boxes, args.forget_n, args.layers = 40, 30, (2,)
    if not Path(args.weights).is_file():
        print(f"{args.weights} is absent", file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    docs, start = Path(args.docs), time.monotonic()
    model = converted(args.weights)
    record: dict = {
        "model": "DigiFace-1M DCGAN (pytorch/examples layout), 64 px, z ~ N(0, I)",
        "bn": BN,
        "thresholds": {"mouth_open": MOUTH_OPEN, "glasses": GLASSES},
        "args": {k: v for k, v in vars(args).items() if k not in ("json", "docs")},
    }

    def log(text: str) -> None:
        print(f"[{time.monotonic() - start:6.0f} s] {text}", flush=True)

    save_png(
        grid_image(images_of(model, latents(model, range(64))), 8), docs / "digiface_samples.png"
    )
    walk = interpolate(model, seeds=[0, 1, 2, 3, 4, 5], segment_steps=8, bn=BN)
    save_png(grid_image(walk.rows(), 9), docs / "digiface_walk.png")
    pool_seeds = list(range(args.pool))
    pool = pool_faces(model, pool_seeds)
    record["pool"] = {"samples": args.pool, "faces_found": sum(f.found for f in pool)}
    log(f"pool: {record['pool']}")
    record["arithmetic"] = {}
    for attr in ATTRS:
        r, fig = arithmetic_test(model, pool, pool_seeds, attr, args)
        record["arithmetic"][attr] = r
        save_png(fig, docs / f"digiface_arithmetic_{attr}.png")
        log(f"arithmetic {attr}: {r['rate_with_vector']} vs {r['rate_with_random']['mean']}")
    r, images, turn_v = turn_test(model, pool, pool_seeds, args)
    record["turn"] = r
    save_png(grid_image(images[: 8 * args.frames], args.frames), docs / "digiface_turn.png")
    log(f"turn: {r['tolerance_deg']['5.0']}")
    boxes, test = forget_setup(model, args)
    r, shown = forget_tests(model, boxes, test, args)
    record["forget"] = r
    save_png(shown.figure(), docs / "digiface_forget.png")
    for name, v in r["variants"].items():
        log(
            f"forget {name}: {v['eye_rate_after']} vs {v['eye_rate_random']['mean']} "
            f"(intact {r['eye_rate_intact']})"
        )
    record["seconds"] = round(time.monotonic() - start, 1)
    if not args.quick:
        log(explore_figure(args.weights, record, turn_v, docs / "digiface_explore.png"))
    write_results(Path(args.json), record, indent=1)
    print(table(record))
    return 0


def table(r: dict) -> str:
    lines = [
        "| claim | measure | with the model's vector/maps | control (mean ± std, min–max) | goal |",
        "|---|---|---|---|---|",
    ]
    for a in r["arithmetic"].values():
        c = a["rate_with_random"]
        lines.append(
            f"| §6.3.2 {a['attribute']} | detected on {a['test_faces']} faces without it | "
            f"{a['rate_with_vector']:.3f} | {c['mean']:.3f} ± {c['std']:.3f} "
            f"({c['min']:.3f}–{c['max']:.3f}) | {'met' if a['met'] else 'not met'} |"
        )
    t = r["turn"]["tolerance_deg"]["5.0"]
    c = t["share_with_random"]
    lines.append(
        f"| Fig. 8 turn | rows monotone, |Δyaw| ≥ 15° | {t['share_with_vector']:.3f} | "
        f"{c['mean']:.3f} ± {c['std']:.3f} ({c['min']:.3f}–{c['max']:.3f}) | "
        f"{'met' if r['turn']['met'] else 'not met'} |"
    )
    for name, v in r["forget"]["variants"].items():
        c = v["eye_rate_random"]
        lines.append(
            f"| §6.3.1 {name} ({v['maps_dropped']} maps) | eye rate "
            f"(intact {r['forget']['eye_rate_intact']:.3f}) | {v['eye_rate_after']:.3f} | "
            f"{c['mean']:.3f} ± {c['std']:.3f} ({c['min']:.3f}–{c['max']:.3f}) | "
            f"{'met' if v['met'] else 'not met'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
