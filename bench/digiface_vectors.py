"""Paper §6.3.2 vector arithmetic and the Fig. 8 turn on the DigiFace generator, each
against random vectors of the same norm (used by bench/digiface_latent.py)."""

from __future__ import annotations

import numpy as np
import torch

from dcgan.experiments.landmarks import faces
from dcgan.experiments.latent import arithmetic, latents
from dcgan.sampling import generate

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
