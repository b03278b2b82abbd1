"""Every §6 claim of the paper on a well-trained face generator, each against its control.

The model is the DigiFace-1M DCGAN in the data folder beside the repository
(pretrained/digiface64_dcgan: the PyTorch tutorial's architecture, converted with `dcgan
convert`). Detectors: dlib's 68 facial
landmarks (dcgan.experiments.landmarks: yaw, open mouth, glasses, eye boxes) and OpenCV's
Haar eye cascade (dcgan.experiments.detect.eyes) for the forgetting hit rate.

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

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dcgan.experiments.detect import eyes
from dcgan.experiments.forget import (
    _activations,
    forget,
    inside,
    without_maps,
)
from dcgan.experiments.landmarks import GLASSES, MOUTH_OPEN, faces
from dcgan.experiments.latent import arithmetic, interpolate, latents
from dcgan.io import atomic_write_text
from dcgan.sampling import generate, grid_image, load, save_png
from dcgan.torch_examples import convert_examples

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT.parent / "shared/data/pretrained/digiface64_dcgan/weights.tar"
BN = "running"  # the tutorial's eval mode: its running statistics
ATTRS = {"mouth_open": "open mouth", "glasses": "glasses"}


def images_of(model, z: torch.Tensor) -> torch.Tensor:
    return generate(model.generator, z, BN, model.config.z_dist)


def spread(values: list[float]) -> dict:
    a = np.asarray(values, dtype=float)
    return {
        "mean": round(float(a.mean()), 4),
        "std": round(float(a.std()), 4),
        "min": round(float(a.min()), 4),
        "max": round(float(a.max()), 4),
        "draws": [round(float(v), 4) for v in a],
    }


def random_like(v: torch.Tensor, n: int, draw: int) -> torch.Tensor:
    """n random directions of v's norm (one per row), from draw number `draw`."""
    r = torch.randn(n, v.numel(), generator=torch.Generator().manual_seed(1000 + draw))
    return r / r.norm(dim=1, keepdim=True) * v.norm()


def pool_faces(model, seeds: list[int]) -> list:
    out = []
    for i in range(0, len(seeds), 200):
        out += faces(images_of(model, latents(model, seeds[i : i + 200])))
    return out


# paper §6.3.2 ------------------------------------------------------------------------------


def arithmetic_test(model, pool: list, pool_seeds: list[int], attr: str, args) -> dict:
    score = {"mouth_open": lambda f: f.mouth, "glasses": lambda f: f.bridge}[attr]
    found = [(s, f) for s, f in zip(pool_seeds, pool, strict=True) if f.found]
    with_a = sorted([x for x in found if getattr(x[1], attr)], key=lambda x: -score(x[1]))
    without = sorted([x for x in found if not getattr(x[1], attr)], key=lambda x: score(x[1]))
    a, b, c = [s for s, _ in with_a[:3]], [s for s, _ in without[:3]], [s for s, _ in without[3:6]]
    v = latents(model, a).mean(0) - latents(model, b).mean(0)
    # Fig. 7: A - B + C (with - without + another without) and its neighbours.
    figure = arithmetic(model, "A - B + C", {"A": a, "B": b, "C": c}, bn=BN).figure()
    test: list[int] = []
    start = 300_000 if attr == "glasses" else 200_000
    while len(test) < args.test:
        seeds = list(range(start, start + 200))
        test += [
            s
            for s, f in zip(seeds, pool_faces(model, seeds), strict=True)
            if f.found and not getattr(f, attr)
        ]
        start += 200
    test = test[: args.test]
    z = latents(model, test)

    def rate(d: torch.Tensor) -> float:
        return float(np.mean([getattr(f, attr) for f in faces(images_of(model, z + d))]))

    with_v = rate(v)
    control = [rate(random_like(v, len(z), k)) for k in range(args.draws)]
    return {
        "attribute": ATTRS[attr],
        "exemplars": {"with": a, "without": b, "C": c},
        "pool_rate": round(len(with_a) / max(len(found), 1), 4),
        "vector_norm": round(float(v.norm()), 3),
        "test_faces": len(test),
        "rate_with_vector": round(with_v, 4),
        "rate_with_random": spread(control),
        "ratio": round(with_v / max(np.mean(control), 1e-9), 2),
        "goal": ">= 3x the control",
        "met": bool(with_v >= 3 * np.mean(control) and with_v > 0),
    }, figure


# Fig. 8 ------------------------------------------------------------------------------------


def monotone_share(yaw: np.ndarray, sign: int | None, tol: float) -> float:
    """Share of rows (rows, frames) whose yaw moves monotonically (steps back of at most `tol`
    degrees allowed) by >= 15 degrees in total, in direction `sign` (None: either)."""
    ok = []
    for row in yaw:
        if np.isnan(row).any():
            ok.append(False)
            continue
        steps, total = np.diff(row), row[-1] - row[0]
        signs = [sign] if sign else [1, -1]
        ok.append(any(s * total >= 15 and (s * steps >= -tol).all() for s in signs))
    return float(np.mean(ok))


def turn_test(model, pool: list, pool_seeds: list[int], args):
    """The turn measure; returns its record, the rows' images and the turn vector."""
    found = sorted(
        [(f.yaw, s) for s, f in zip(pool_seeds, pool, strict=True) if f.found], key=lambda x: x[0]
    )
    k = args.turn_k
    left, right = [s for _, s in found[:k]], [s for _, s in found[-k:]]
    v = latents(model, right).mean(0) - latents(model, left).mean(0)
    rows = latents(model, range(400_000, 400_000 + args.rows))
    t = torch.linspace(-args.scale, args.scale, args.frames)

    def yaw_of(d: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
        z = (rows[:, None] + t[None, :, None] * d[:, None]).flatten(0, 1)
        images = images_of(model, z)
        yaw = np.array([f.yaw for f in faces(images)]).reshape(args.rows, args.frames)
        return yaw, images

    yaw_v, images = yaw_of(v.expand(args.rows, -1))
    result = {"tolerance_deg": {}, "left_seeds": left, "right_seeds": right}
    controls = [yaw_of(random_like(v, args.rows, k))[0] for k in range(args.draws)]
    for tol in (0.0, 5.0):
        result["tolerance_deg"][str(tol)] = {
            "share_with_vector": round(monotone_share(yaw_v, 1, tol), 4),
            "share_with_random": spread([monotone_share(y, None, tol) for y in controls]),
        }
    main = result["tolerance_deg"]["5.0"]
    result.update(
        {
            "rows": args.rows,
            "frames": args.frames,
            "scale": args.scale,
            "vector_norm": round(float(v.norm()), 3),
            "mean_yaw_change_deg": round(float(np.nanmean(yaw_v[:, -1] - yaw_v[:, 0])), 2),
            "yaw_rows_deg": np.round(yaw_v, 1).tolist(),
            "goal": ">= 60% of rows",
            "met": bool(main["share_with_vector"] >= 0.6),
        }
    )
    return result, images, v


# paper §6.3.1 ------------------------------------------------------------------------------


def l1_weights(acts, mask, c: float = 0.05, seed: int = 0) -> torch.Tensor:
    """An L1-regularised logistic regression's weights (sparse: few maps positive)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = acts.permute(0, 2, 3, 1)
    pos, out = x[mask], x[~mask]
    neg = out[torch.randperm(len(out), generator=torch.Generator().manual_seed(seed))[: len(pos)]]
    features = torch.cat([pos, neg]).double().numpy()
    labels = [1] * len(pos) + [0] * len(neg)
    scaled = StandardScaler().fit_transform(features)
    clf = LogisticRegression(l1_ratio=1.0, C=c, solver="liblinear", max_iter=2000)
    return torch.from_numpy(clf.fit(scaled, labels).coef_[0]).float()


def forget_tests(model, boxes: dict, test: dict, args) -> tuple[dict, object]:
    """Variants of the forgetting experiment, each against random drops of as many maps."""
    z, intact, outside = test["z"], test["images"], test["outside"]
    base_rate = float(np.mean([bool(e) for e in eyes(intact)]))

    def measure(layer: int, maps: list[int]) -> tuple[float, float]:
        images = generate(without_maps(model, maps, layer, BN), z, "running")
        rate = float(np.mean([bool(e) for e in eyes(images)]))
        change = float(((images - intact).abs().mean(1) * outside).sum() / outside.sum())
        return rate, change

    variants, shown = {}, None
    for layer in args.layers:
        result = forget(model, boxes, layer=layer, show=8, bn=BN)
        if layer == 2:
            shown = result
        acts = _activations(model, list(result.boxes), layer, BN)
        mask = inside([result.boxes[s] for s in result.boxes], acts.shape[-1], 64)
        choices = {"positive": result.dropped}
        order = torch.argsort(result.weights, descending=True).tolist()
        for k in args.top_k:
            choices[f"top{k}"] = order[:k]
        if layer == 2:
            w1 = l1_weights(acts, mask)
            choices["l1_positive"] = [int(i) for i in torch.nonzero(w1 > 0).flatten()]
        for name, maps in choices.items():
            if not maps:
                continue
            rate, change = measure(layer, maps)
            rng = torch.Generator().manual_seed(7)
            controls = [
                measure(layer, torch.randperm(result.maps, generator=rng)[: len(maps)].tolist())
                for _ in range(args.draws)
            ]
            c_rates = [r for r, _ in controls]
            fall, c_fall = base_rate - rate, base_rate - float(np.mean(c_rates))
            variants[f"layer{layer}_{name}"] = {
                "layer_from_top": layer,
                "maps_dropped": len(maps),
                "of_maps": result.maps,
                "train_accuracy": round(result.accuracy, 4),
                "eye_rate_after": round(rate, 4),
                "eye_rate_random": spread(c_rates),
                "fall": round(fall, 4),
                "fall_random_mean": round(c_fall, 4),
                "below_every_control": bool(rate < min(c_rates)),
                "pixel_change_outside_eyes": round(change, 4),
                "pixel_change_outside_random": spread([c for _, c in controls]),
                "met": bool(
                    fall >= 2 * c_fall
                    and fall > 0
                    and rate < min(c_rates)
                    and change < np.mean([c for _, c in controls])
                ),
            }
    return {
        "eye_rate_intact": round(base_rate, 4),
        "test_samples": len(z),
        "variants": variants,
        "goal": "fall >= 2x the random fall, below every draw",
    }, shown


def forget_setup(model, args) -> tuple[dict, dict]:
    """Eye boxes on `forget_boxes` samples; the test samples with their outside-eyes masks."""
    seeds = list(range(args.forget_boxes))
    found = pool_faces(model, seeds)
    boxes = {
        s: [tuple(min(max(v, 0.0), 64.0) for v in b) for b in f.eye_boxes()] if f.found else []
        for s, f in zip(seeds, found, strict=True)
    }
    z = latents(model, range(500_000, 500_000 + args.forget_n))
    intact = images_of(model, z)
    mask = torch.zeros(len(z), 64, 64)
    for i, f in enumerate(faces(intact)):
        for x0, y0, x1, y1 in f.eye_boxes():
            mask[i, max(int(y0), 0) : int(np.ceil(y1)), max(int(x0), 0) : int(np.ceil(x1))] = 1
    return boxes, {"z": z, "images": intact, "outside": 1 - mask}


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(WEIGHTS))
    p.add_argument("--pool", type=int, default=600)
    p.add_argument("--test", type=int, default=200)
    p.add_argument("--draws", type=int, default=8)
    p.add_argument("--rows", type=int, default=40)
    p.add_argument("--frames", type=int, default=7)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--turn-k", type=int, default=20)
    p.add_argument("--forget-boxes", type=int, default=150)
    p.add_argument("--forget-n", type=int, default=300)
    p.add_argument("--layers", type=int, nargs="+", default=[2, 1, 3])
    p.add_argument("--top-k", type=int, nargs="+", default=[10, 30])
    p.add_argument("--json", default=str(ROOT / "bench/results/digiface_latent.json"))
    p.add_argument("--docs", default=str(ROOT / "docs"))
    p.add_argument("--quick", action="store_true", help="tiny counts, for a smoke run")
    args = p.parse_args(argv)
    if args.quick:
        args.pool, args.test, args.draws, args.rows = 120, 20, 2, 4
        args.forget_boxes, args.forget_n, args.layers = 40, 30, [2]
    if not Path(args.weights).is_file():
        print(f"{args.weights} is absent", file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    docs, start = Path(args.docs), time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        convert_examples(args.weights, Path(tmp) / "digiface.pt")
        model = load(Path(tmp) / "digiface.pt")
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
    walk = interpolate(model, seeds=[0, 1, 2, 3, 4, 5], steps=8, bn=BN)
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
    atomic_write_text(args.json, json.dumps(record, indent=1) + "\n")
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
