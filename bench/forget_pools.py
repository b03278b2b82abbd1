"""Paper §6.3.1 forgetting over independent pools of faces, development pools apart from
held-out ones, on the DigiFace generator.

A pool is two disjoint seed ranges: the samples that fit the forgetting (landmark eye boxes,
the logistic regression, and for the causal variants the single-map drops) and the test faces
on which the eye cascade's hit rate is measured. Inside each pool every dropped set is
compared with `draws` sets of as many random maps of the same layer(s), on the same faces.

Every variant runs on the development pools; the rule below picks one there. Only the picked
variant and the paper's rule then run on the held-out pools, which took no part in choosing.

- fall: intact eye rate minus the rate without the maps; ratio: fall / mean random fall;
- below: the rate ends below every random draw;
- pick: the highest mean ratio among variants below every draw on every development pool
  (the highest mean ratio if none is).

Run: python bench/forget_pools.py   (writes bench/results/forget_pools.json)
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from harness import SHARED, converted, parse_args, print_table, results_path, write_results

from dcgan.experiments.concepts import spread
from dcgan.experiments.detect import eyes
from dcgan.experiments.forget import _activations, block_index, causal_falls, fit_weights, inside
from dcgan.experiments.landmarks import faces
from dcgan.experiments.latent import latents
from dcgan.options import opt
from dcgan.sampling import generate, with_bn_mode

BN = "running"
WEIGHTS = SHARED / "pretrained/digiface64_dcgan/weights.tar"
STRIDE = 10_000  # seeds of pool p start at FIRST + p * STRIDE
FIT_FIRST, TEST_FIRST = 3_000_000, 4_000_000


@dataclass(frozen=True)
class Variant:
    """How the maps are chosen: from `n` fit samples with boxes padded by `pad` (landmark eye
    boxes, 0.6 by default), on layer 2 or on layers 2 and 3 in one regression; `rule`
    positive (weight > 0, the paper's), top (the k largest weights) or causal (the k positive
    maps whose single drop lowers the eye count on the fit samples the most)."""

    n: int
    rule: str
    k: int = 0
    pad: float = 0.6
    layers: tuple[int, ...] = (2,)

    @property
    def name(self) -> str:
        rule = self.rule if self.rule == "positive" else f"{self.rule}{self.k}"
        pad = "" if self.pad == 0.6 else f"_pad{self.pad}"
        layers = "" if self.layers == (2,) else "_layers" + "+".join(map(str, self.layers))
        return f"{rule}_n{self.n}{pad}{layers}"


PAPER = Variant(150, "positive")
VARIANTS = [
    PAPER,
    Variant(600, "positive"),
    Variant(150, "top", 20),
    Variant(600, "top", 10),
    Variant(600, "top", 20),
    Variant(600, "top", 30),
    Variant(600, "positive", pad=0.3),
    Variant(600, "top", 20, pad=0.3),
    Variant(600, "positive", layers=(2, 3)),
    Variant(600, "top", 20, layers=(2, 3)),
    Variant(600, "causal", 10),
    Variant(600, "causal", 20),
    Variant(600, "causal", 30),
]


@dataclass
class Args:
    dev: tuple[int, ...] = opt((0, 1, 2), "development pools (the variant is chosen on them)")
    held_out: tuple[int, ...] = opt((3, 4, 5, 6, 7, 8, 9), "held-out pools")
    fit: int = opt(600, "fit samples per pool (the n150 variants use the first 150)")
    causal_n: int = opt(200, "fit samples on which each candidate map is dropped alone")
    test: int = opt(300, "test faces per pool")
    draws: int = opt(8, "random-map draws per dropped set")
    quick: bool = opt(False, "a smoke run: 2 small pools, few variants")
    json: str = opt(str(results_path("forget_pools")))


def dropping(model, by_layer: dict[int, list[int]]):
    """A copy of G (running BatchNorm) whose layers output zeros in the given maps."""
    g = with_bn_mode(model.generator, BN, model.config.z_dist)
    for layer, maps in by_layer.items():
        if maps:
            index = torch.tensor(sorted(set(maps)), dtype=torch.long)
            g.blocks[block_index(g, layer)].register_forward_hook(
                lambda m, i, out, index=index: out.index_fill(1, index, 0)
            )
    return g


def eye_box_lists(found, pad: float) -> list[list]:
    return [f.eye_boxes(pad) if f.found else [] for f in found]


class Pool:
    """One pool's fit samples (landmarks, activations) and test faces (intact rate, mask)."""

    def __init__(self, model, p: int, args: Args) -> None:
        self.model, self.p, self.args = model, p, args
        self.fit_seeds = list(range(FIT_FIRST + p * STRIDE, FIT_FIRST + p * STRIDE + args.fit))
        fit_images = generate(model.generator, latents(model, self.fit_seeds), BN)
        self.fit_faces = faces(fit_images)
        self.acts = {}
        z = latents(model, range(TEST_FIRST + p * STRIDE, TEST_FIRST + p * STRIDE + args.test))
        self.z = z
        self.intact = generate(model.generator, z, BN)
        self.base = float(np.mean([bool(e) for e in eyes(self.intact)]))
        mask = torch.zeros(len(z), 64, 64)
        for i, f in enumerate(faces(self.intact)):
            for x0, y0, x1, y1 in f.eye_boxes():
                mask[i, max(int(y0), 0) : int(np.ceil(y1)), max(int(x0), 0) : int(np.ceil(x1))] = 1
        self.outside = 1 - mask
        self.causal_scores: dict | None = None

    def activations(self, layer: int) -> torch.Tensor:
        if layer not in self.acts:
            self.acts[layer] = _activations(self.model, self.fit_seeds, layer, BN)
        return self.acts[layer]

    def weights(self, v: Variant) -> dict[int, torch.Tensor]:
        """Per layer, the regression weights of v's fit (one regression over v's layers:
        a lower layer's maps are repeated up to the top layer's side)."""
        top = min(v.layers)
        acts = self.activations(top)[: v.n]
        side = acts.shape[-1]
        parts = [acts] + [
            F.interpolate(self.activations(layer)[: v.n], size=side, mode="nearest")
            for layer in v.layers[1:]
        ]
        mask = inside(eye_box_lists(self.fit_faces[: v.n], v.pad), side, 64)
        w, _, _ = fit_weights(torch.cat(parts, 1), mask)
        out, start = {}, 0
        for layer, part in zip(v.layers, parts, strict=True):
            out[layer] = w[start : start + part.shape[1]]
            start += part.shape[1]
        return out

    def causal(self, candidates: list[int]) -> dict[int, float]:
        """The fall of the mean eye count on `causal_n` fit samples when each candidate
        map of layer 2 is dropped alone (`dcgan forget --rank causal`'s function)."""
        if self.causal_scores is None:
            seeds = self.fit_seeds[: self.args.causal_n]
            self.causal_scores = causal_falls(self.model, seeds, candidates, 2, eyes, BN)
        return self.causal_scores

    def maps(self, v: Variant) -> dict[int, list[int]]:
        w = self.weights(v)
        if v.rule == "positive":
            return {layer: torch.nonzero(w[layer] > 0).flatten().tolist() for layer in v.layers}
        if v.rule == "top":
            flat = torch.cat([w[layer] for layer in v.layers])
            order = torch.argsort(flat, descending=True)[: v.k].tolist()
            out, start = {}, 0
            for layer in v.layers:
                n = len(w[layer])
                out[layer] = [i - start for i in order if start <= i < start + n]
                start += n
            return out
        # causal: candidates are the positive maps of the 600-sample fit on layer 2
        base = Variant(self.args.fit, "positive")
        candidates = torch.nonzero(self.weights(base)[2] > 0).flatten().tolist()
        scores = self.causal(candidates)
        return {2: sorted(candidates, key=lambda m: -scores[m])[: v.k]}

    def measure(self, by_layer: dict[int, list[int]]) -> tuple[float, float]:
        images = generate(dropping(self.model, by_layer), self.z, BN)
        rate = float(np.mean([bool(e) for e in eyes(images)]))
        change = float(((images - self.intact).abs().mean(1) * self.outside).sum())
        return rate, change / float(self.outside.sum())

    def test(self, v: Variant) -> dict:
        chosen = self.maps(v)
        rate, change = self.measure(chosen)
        rng = torch.Generator().manual_seed(7_000 + self.p)
        sizes = {layer: self.acts[layer].shape[1] for layer in chosen}
        controls = [
            self.measure(
                {
                    layer: torch.randperm(sizes[layer], generator=rng)[: len(m)].tolist()
                    for layer, m in chosen.items()
                }
            )
            for _ in range(self.args.draws)
        ]
        rates = [r for r, _ in controls]
        fall, random_fall = self.base - rate, self.base - float(np.mean(rates))
        return {
            "maps": {str(layer): m for layer, m in chosen.items()},
            "maps_dropped": sum(map(len, chosen.values())),
            "eye_rate_after": round(rate, 4),
            "eye_rate_random": spread(rates),
            "fall": round(fall, 4),
            "random_fall": round(random_fall, 4),
            "ratio": round(fall / random_fall, 3) if random_fall > 0 else None,
            "below_every_draw": bool(rate < min(rates)),
            "outside_change": round(change, 4),
            "outside_change_random": round(float(np.mean([c for _, c in controls])), 4),
        }


def run_pool(model, p: int, variants: list[Variant], args: Args, log) -> dict:
    t = time.monotonic()
    pool = Pool(model, p, args)
    record = {
        "fit_seeds": f"{pool.fit_seeds[0]}-{pool.fit_seeds[-1]}",
        "test_seeds": f"{TEST_FIRST + p * STRIDE}-{TEST_FIRST + p * STRIDE + args.test - 1}",
        "faces_found_in_fit": sum(f.found for f in pool.fit_faces),
        "eye_rate_intact": round(pool.base, 4),
        "variants": {},
    }
    for v in variants:
        r = pool.test(v)
        record["variants"][v.name] = r
        log(
            f"pool {p} {v.name}: {r['maps_dropped']} maps, fall {r['fall']:.3f} vs "
            f"{r['random_fall']:.3f} (ratio {r['ratio']}), below every draw {r['below_every_draw']}"
        )
    record["seconds"] = round(time.monotonic() - t, 1)
    return record


def summary(pools: dict, name: str) -> dict:
    rows = [r["variants"][name] for r in pools.values() if name in r["variants"]]
    ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
    return {
        "pools": len(rows),
        # a random fall <= 0 (too few maps for random drops to show) leaves the ratio undefined
        "ratio_undefined_pools": len(rows) - len(ratios),
        "ratio": spread(ratios) if ratios else None,
        # mean fall / mean random fall: steadier than the mean of the pools' ratios
        "ratio_of_means": round(
            float(np.mean([r["fall"] for r in rows]))
            / max(float(np.mean([r["random_fall"] for r in rows])), 1e-9),
            3,
        ),
        "fall": spread([r["fall"] for r in rows]),
        "random_fall": spread([r["random_fall"] for r in rows]),
        "maps_dropped": spread([r["maps_dropped"] for r in rows]),
        "below_every_draw_share": round(float(np.mean([r["below_every_draw"] for r in rows])), 3),
        "outside_change": spread([r["outside_change"] for r in rows]),
        "outside_change_random": spread([r["outside_change_random"] for r in rows]),
    }


def pick(dev: dict[str, dict]) -> str:
    """The highest mean ratio among variants below every draw on every development pool
    (a variant whose ratio is undefined on a pool is not eligible)."""
    defined = [n for n, s in dev.items() if not s["ratio_undefined_pools"]]
    always = [n for n in defined if dev[n]["below_every_draw_share"] == 1.0]
    return max(always or defined, key=lambda n: dev[n]["ratio"]["mean"])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, __doc__, argv)
    variants = VARIANTS
    if args.quick:
        args.dev, args.held_out, args.fit, args.causal_n, args.test, args.draws = (
            (0,),
            (1,),
            160,
            40,
            60,
            2,
        )
        variants = [PAPER, Variant(160, "top", 20), Variant(160, "causal", 10)]
    if not WEIGHTS.is_file():
        print(f"{WEIGHTS} is absent", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    start = time.monotonic()
    model = converted(WEIGHTS)

    def log(text: str) -> None:
        print(f"[{time.monotonic() - start:6.0f}s] {text}", flush=True)

    record: dict = {
        "model": "DigiFace-1M DCGAN (pytorch/examples layout), 64 px, z ~ N(0, I)",
        "bn": BN,
        "protocol": __doc__.split("\n\n")[1:4],
        "args": {k: v for k, v in vars(args).items() if k != "json"},
        "variants": {v.name: v.__dict__ | {"layers": list(v.layers)} for v in variants},
        "dev_pools": {},
        "held_out_pools": {},
    }
    for p in args.dev:
        record["dev_pools"][str(p)] = run_pool(model, p, variants, args, log)
        write_results(args.json, record)
    dev = {v.name: summary(record["dev_pools"], v.name) for v in variants}
    chosen = pick(dev)
    record.update({"dev_summary": dev, "chosen": chosen})
    log(f"chosen on the development pools: {chosen}")
    final = [v for v in variants if v.name in {chosen, PAPER.name}]
    for p in args.held_out:
        record["held_out_pools"][str(p)] = run_pool(model, p, final, args, log)
        write_results(args.json, record)
    held = {v.name: summary(record["held_out_pools"], v.name) for v in final}
    for s in held.values():
        mean = s["ratio"]["mean"] if s["ratio"] and not s["ratio_undefined_pools"] else 0.0
        s["met"] = bool(mean >= 2 and s["below_every_draw_share"] >= 0.8)
    record["held_out_summary"] = held
    record["goal"] = "held-out: mean ratio >= 2 and below every draw in >= 80% of pools"
    record["seconds"] = round(time.monotonic() - start, 1)
    write_results(args.json, record)
    rows = [
        [
            name,
            where,
            s["pools"],
            f"{s['ratio']['mean']:.2f} ± {s['ratio']['std']:.2f}" if s["ratio"] else "-",
            f"{s['fall']['mean']:.3f}",
            f"{s['random_fall']['mean']:.3f}",
            s["below_every_draw_share"],
        ]
        for where, table in (("dev", dev), ("held-out", held))
        for name, s in table.items()
    ]
    print_table(["variant", "pools", "n", "ratio", "fall", "random fall", "below all"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
