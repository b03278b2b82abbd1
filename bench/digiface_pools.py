"""Paper §6.3.2 arithmetic and the Fig. 8 turn, replicated over independent exemplar pools.

The model, detectors and rules are those of bench/digiface_latent.py and of the verbs
(dcgan.experiments.concepts). Pool p draws everything from its own seeds:
- exemplars: seeds p*1e6 + [0, pool) (the verbs search 600 seeds: pool 0 is theirs);
- test faces: the first `test` found faces without the attribute from p*1e6 + 500000;
- turn rows: seeds p*1e6 + 800000 + [0, rows);
- k-exemplar figure: exemplars among p*1e6 + [0, k_pool), tested on the same test faces.

In each pool, each vector is measured against its controls, `draws` draws of each:
- glasses and open mouth: the verbs' vector (the 3 clearest with minus the 3 clearest
  without) against random vectors of the same norm, vectors from 3 vs 3 randomly chosen
  detector-labelled faces (with vs without), and vectors from 3 random found faces vs 3 others;
- turn (rows moving monotonically >= 15 degrees): the verbs' vector (20 most right- minus 20
  most left-turned faces) against random directions of its norm and vectors from 20 random
  found faces vs 20 others, rescaled to its norm (a turn either way counts for controls);
- k-exemplar figure: the k clearest with vs without, and k random labelled vs k, k = `ks`.
Pools `dev` were looked at to choose the counts; the others are held out. Results are
reported as mean ± std over pools, dev and held-out apart.

Run: python bench/digiface_pools.py  (writes bench/results/digiface_pools.json and
docs/digiface_pools_k.png)
"""

from __future__ import annotations

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

from dcgan.experiments import concepts as cp
from dcgan.experiments.zfile import latents
from dcgan.options import opt

BN = "running"
ATTRS = ("glasses", "mouth-open")
STRIDE = 1_000_000  # seeds of pool p: p * STRIDE + ...
TEST_AT, ROWS_AT = 500_000, 800_000


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    weights: str = opt(str(SHARED / "pretrained/digiface64_dcgan/weights.tar"))
    pools: tuple[int, ...] = opt(tuple(range(10)), "pool numbers, e.g. 0,1,2")
    dev: tuple[int, ...] = opt((0, 1, 2), "the development pools among them")
    pool: int = opt(cp.AUTO_POOL, "exemplar seeds per pool (the verbs' pool)")
    k_pool: int = opt(1500, "exemplar seeds per pool for the k-exemplar figure")
    ks: tuple[int, ...] = opt((1, 3, 5, 10, 20), "exemplars per concept in the figure")
    test: int = opt(100, "test faces per attribute and pool")
    draws: int = opt(6, "draws of each control per pool")
    rows: int = opt(40, "turn rows per pool")
    frames: int = opt(7)
    scale: float = opt(1.0)
    ends: int = opt(20, "turn exemplars at each end")
    json: str = opt(str(results_path("digiface_pools")))
    figure: str = opt(str(ROOT / "docs" / "digiface_pools_k.png"))
    quick: bool = opt(False, "tiny counts, for a smoke run")


def test_faces(model, base: int, n: int) -> dict[str, list[int]]:
    """For each attribute, the first `n` found faces without it from seed base + TEST_AT."""
    out: dict[str, list[int]] = {a: [] for a in ATTRS}
    start = base + TEST_AT
    while min(len(v) for v in out.values()) < n:
        seeds = list(range(start, start + cp.BATCH))
        for s, f in zip(seeds, cp.pool_faces(model, seeds, BN), strict=True):
            for a in ATTRS:
                if f.found and not getattr(f, cp.attribute(a).flag):
                    out[a].append(s)
        start += cp.BATCH
    return {a: v[:n] for a, v in out.items()}


def pick(seeds: list[int], k: int, rng: np.random.Generator) -> list[int]:
    return cp.disjoint_draw(seeds, k, rng, sets=1)[0]


def summary(vector: float, controls: dict[str, list[float]]) -> dict:
    """The vector's rate, each control's draws, and whether it beats every draw."""
    return {
        "vector": round(vector, 4),
        "controls": {k: cp.spread(v) for k, v in controls.items()},
        "beats_every_draw": {k: bool(vector > max(v)) for k, v in controls.items()},
    }


def attribute_pool(model, p: int, seeds, found, k_found, test, args) -> dict:
    """One pool's arithmetic measures for both attributes, and its k-exemplar points."""
    out = {}
    for i, name in enumerate(ATTRS):
        z = latents(model, test[name])
        rng = np.random.default_rng([p, i])

        def rate(v: torch.Tensor, z: torch.Tensor = z, name: str = name) -> float:
            return cp.attribute_rate(model, name, z + v, BN)

        chosen = cp.top_exemplars(seeds, found, name, cp.EXEMPLARS)
        v = cp.mean_difference(model, chosen["A"], chosen["B"])
        with_a, without = cp.ranked(seeds, found, name)
        faces = [s for s, f in zip(seeds, found, strict=True) if f.found]
        k = cp.EXEMPLARS
        controls: dict[str, list[float]] = {"random_vector": [], "random_labelled": []}
        controls["random_faces"] = []
        for d in range(args.draws):
            controls["random_vector"].append(rate(cp.random_like(v, len(z), 100 * p + d)))
            a, b = pick(with_a, k, rng), pick(without, k, rng)
            controls["random_labelled"].append(rate(cp.mean_difference(model, a, b)))
            a, b = cp.disjoint_draw(faces, k, rng)
            controls["random_faces"].append(rate(cp.mean_difference(model, a, b)))
        r = summary(rate(v), controls)
        r.update(exemplars=chosen, vector_norm=round(float(v.norm()), 3))
        r["labelled_in_pool"] = {"with": len(with_a), "without": len(without)}
        k_seeds = list(range(p * STRIDE, p * STRIDE + args.k_pool))
        k_with, k_without = cp.ranked(k_seeds, k_found, name)
        r["k"] = {"with_in_pool": len(k_with), "top": {}, "random_labelled": {}}
        for k in args.ks:
            top = cp.top_exemplars(k_seeds, k_found, name, k)
            r["k"]["top"][str(k)] = round(rate(cp.mean_difference(model, top["A"], top["B"])), 4)
            a, b = pick(k_with, k, rng), pick(k_without, k, rng)
            r["k"]["random_labelled"][str(k)] = round(rate(cp.mean_difference(model, a, b)), 4)
        out[name] = r
    return out


def turn_pool(model, p: int, seeds, found, args) -> dict:
    """One pool's turn measure: the verbs' vector against both controls."""
    left, right = cp.yaw_ends(seeds, found, args.ends)
    v = cp.mean_difference(model, right, left)
    rows = latents(model, range(p * STRIDE + ROWS_AT, p * STRIDE + ROWS_AT + args.rows))
    rng = np.random.default_rng([p, 99])
    faces = [s for s, f in zip(seeds, found, strict=True) if f.found]

    def share(d: torch.Tensor, sign: int | None) -> float:
        yaw = cp.yaw_rows(model, rows, d, args.scale, args.frames, BN)[0]
        return cp.monotone_share(yaw, sign)

    controls: dict[str, list[float]] = {"random_vector": [], "random_faces": []}
    for d in range(args.draws):
        controls["random_vector"].append(share(cp.random_like(v, args.rows, 100 * p + d), None))
        a, b = cp.disjoint_draw(faces, args.ends, rng)
        controls["random_faces"].append(share(cp.mean_difference(model, a, b, v.norm()), None))
    r = summary(share(v, 1), controls)
    r["vector_norm"] = round(float(v.norm()), 3)
    return r


def measure_pool(model, p: int, args) -> dict:
    base = p * STRIDE
    k_seeds = list(range(base, base + max(args.k_pool, args.pool)))
    k_found = cp.pool_faces(model, k_seeds, BN)
    seeds, found = k_seeds[: args.pool], k_found[: args.pool]
    test = test_faces(model, base, args.test)
    return {
        "faces_found": sum(f.found for f in found),
        "attributes": attribute_pool(model, p, seeds, found, k_found, test, args),
        "turn": turn_pool(model, p, seeds, found, args),
    }


# pooling over pools -------------------------------------------------------------------------


def over(values: list[float]) -> dict:
    a = np.asarray(values, dtype=float)
    return {"mean": round(float(a.mean()), 4), "std": round(float(a.std()), 4), "n": len(a)}


def pooled(records: list[dict]) -> dict:
    """Mean ± std over pools of a measure's vector and control means, and how many pools
    its vector beats every draw of each control (and of all of them) in."""
    controls = records[0]["controls"]
    return {
        "vector": over([r["vector"] for r in records]),
        "controls": {k: over([r["controls"][k]["mean"] for r in records]) for k in controls},
        "beats_every_draw": {
            **{k: sum(r["beats_every_draw"][k] for r in records) for k in controls},
            "all": sum(all(r["beats_every_draw"].values()) for r in records),
        },
        "pools": len(records),
    }


def k_curve(records: list[dict], rule: str, ks) -> dict:
    return {str(k): over([r["k"][rule][str(k)] for r in records]) for k in ks}


def pool_summary(per_pool: dict[int, dict], which: list[int], ks) -> dict:
    out: dict = {"pools": which}
    for name in ATTRS:
        rs = [per_pool[str(p)]["attributes"][name] for p in which]
        out[name] = pooled(rs)
        out[name]["k"] = {rule: k_curve(rs, rule, ks) for rule in ("top", "random_labelled")}
    out["turn"] = pooled([per_pool[str(p)]["turn"] for p in which])
    return out


def plot(record: dict, out: Path) -> None:
    """Rate vs exemplars per concept on the held-out pools: the clearest k (mean ± std over
    pools, each pool a dot) and k randomly chosen labelled faces."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks, held = record["args"]["ks"], record["held_out"]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), dpi=90, sharey=True)
    for ax, name in zip(axes, ATTRS, strict=True):
        for rule, colour, label in (
            ("top", "C0", "the k clearest (the verbs' rule)"),
            ("random_labelled", "C1", "k random labelled"),
        ):
            curve = held[name]["k"][rule]
            m = [curve[str(k)]["mean"] for k in ks]
            s = [curve[str(k)]["std"] for k in ks]
            ax.errorbar(ks, m, yerr=s, color=colour, marker="o", capsize=3, label=label)
            for p in held["pools"]:
                pts = [
                    record["per_pool"][str(p)]["attributes"][name]["k"][rule][str(k)] for k in ks
                ]
                ax.scatter(ks, pts, color=colour, s=6, alpha=0.35)
        c = held[name]["controls"]["random_vector"]["mean"]
        ax.axhline(c, color="grey", ls=":", label="random vector, same norm")
        ax.set_xscale("log")
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.minorticks_off()
        ax.set_xlabel("exemplars per concept (k)")
        ax.set_title(cp.attribute(name).words)
    axes[0].set_ylabel(f"rate on held-out pools ({len(held['pools'])})")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    shrink(out)


CONTROLS = ("random_vector", "random_labelled", "random_faces")


def table(record: dict) -> None:
    rows = []
    for split in ("dev", "held_out"):
        s = record[split]
        for name in (*ATTRS, "turn"):
            m, c = s[name], s[name]["controls"]
            rows.append(
                [
                    f"{split} ({len(s['pools'])})",
                    name,
                    f"{m['vector']['mean']:.3f} ± {m['vector']['std']:.3f}",
                    *(
                        f"{c[k]['mean']:.3f} ± {c[k]['std']:.3f}" if k in c else "–"
                        for k in CONTROLS
                    ),
                    " ".join(f"{k}:{v}" for k, v in m["beats_every_draw"].items()),
                ]
            )
    print_table(["pools", "measure", "vector", *CONTROLS, "pools beating every draw"], rows)
    ks = record["args"]["ks"]
    rows = []
    for name in ATTRS:
        for rule in ("top", "random_labelled"):
            curve = record["held_out"][name]["k"][rule]
            rows.append(
                [
                    name,
                    rule,
                    *(f"{curve[str(k)]['mean']:.3f}±{curve[str(k)]['std']:.3f}" for k in ks),
                ]
            )
    print_table(["held-out", "exemplars", *(f"k={k}" for k in ks)], rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, __doc__, argv)
    if args.quick:
        args.pools, args.dev, args.test, args.draws, args.rows = (0, 1), (0,), 12, 2, 4
        args.k_pool, args.ks = 600, (1, 3)
    if not Path(args.weights).is_file():
        print(f"{args.weights} is absent", file=sys.stderr)
        return 2
    if not set(args.dev) <= set(args.pools) or set(args.dev) == set(args.pools):
        print("--dev must be some, not all, of --pools", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    start = time.monotonic()
    model = converted(args.weights)
    per_pool = {}
    for p in args.pools:
        per_pool[str(p)] = measure_pool(model, p, args)
        a = per_pool[str(p)]["attributes"]
        print(
            f"[{time.monotonic() - start:5.0f} s] pool {p}: glasses {a['glasses']['vector']}, "
            f"mouth {a['mouth-open']['vector']}, turn {per_pool[str(p)]['turn']['vector']}",
            flush=True,
        )
    held = [p for p in args.pools if p not in args.dev]
    record = {
        "model": "DigiFace-1M DCGAN (pytorch/examples layout), 64 px, z ~ N(0, I)",
        "bn": BN,
        "args": {k: v for k, v in vars(args).items() if k not in ("json", "figure")},
        "dev": pool_summary(per_pool, list(args.dev), args.ks),
        "held_out": pool_summary(per_pool, held, args.ks),
        "per_pool": per_pool,
        "seconds": round(time.monotonic() - start, 1),
    }
    write_results(Path(args.json), record, indent=1)
    if not args.quick:
        plot(record, Path(args.figure))
    table(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
