"""Concepts labelled by dlib's facial landmarks (dcgan.experiments.landmarks): the protocol
of `arithmetic --auto glasses|mouth-open`, `turn --pose landmarks` and `forget --auto
landmark-eyes`, which bench/digiface_latent.py measures by calling these same functions.

- Attribute exemplars: among the faces the HOG detector finds in a pool of seeds, A is the
  3 with the attribute and the strongest score, B the 3 without it and the weakest score, C
  the next 3 without it. The vector is mean z(A) - mean z(B).
- Its test: faces without the attribute (new seeds) plus the vector, against random vectors
  of the same norm; the rate at which the detector then sees the attribute.
- Turn: the mean z of the `ends` most right-turned minus the `ends` most left-turned found
  faces. A row (z - s v ... z + s v) turns when its yaw moves monotonically in v's direction
  (steps back of at most 5 degrees allowed, for landmark noise) by >= 15 degrees in total.
- Forgetting boxes: each found face's two landmark eye boxes; unfound faces get none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dcgan.errors import DcganError
from dcgan.experiments.figures import floats
from dcgan.experiments.landmarks import Face, faces
from dcgan.experiments.options import TurnConfig
from dcgan.experiments.zfile import latents
from dcgan.options import configure
from dcgan.sampling import Loaded, generate

EXEMPLARS = 3  # per concept, as in the paper's Fig. 7
AUTO_POOL = 600  # seeds 0..599 searched for exemplars
CONTROL_DRAWS = 8  # random vectors of the same norm each vector is compared with
TURN_DEGREES = 15.0  # a row turns by at least this much in total ...
TURN_TOLERANCE = 5.0  # ... with no step back larger than this
BATCH = 200  # images generated and labelled at once


@dataclass(frozen=True)
class Attribute:
    """A landmark attribute: its words, the Face field that says it is there, the score that
    ranks exemplars, and the first seed searched for test faces."""

    words: str
    flag: str
    score: str
    first_test_seed: int


ATTRIBUTES = {
    "glasses": Attribute("glasses", "glasses", "bridge", 300_000),
    "mouth-open": Attribute("open mouth", "mouth_open", "mouth", 200_000),
}


def attribute(name: str) -> Attribute:
    if name not in ATTRIBUTES:
        raise DcganError(f"unknown attribute {name!r}: use one of {', '.join(ATTRIBUTES)}")
    return ATTRIBUTES[name]


def _images(model: Loaded, z: torch.Tensor, bn: str) -> torch.Tensor:
    return generate(model.generator, z, bn, model.config.z_dist)


def pool_faces(model: Loaded, seeds: list[int], bn: str = "batch") -> list[Face]:
    """The landmarks of the samples of `seeds`, labelled BATCH at a time."""
    out: list[Face] = []
    for i in range(0, len(seeds), BATCH):
        out += faces(_images(model, latents(model, seeds[i : i + BATCH]), bn))
    return out


def spread(values: list[float]) -> dict:
    """Mean, std, min, max and every value of a control's draws."""
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


# paper §6.3.2: attribute arithmetic --------------------------------------------------------


def attribute_concepts(seeds: list[int], found: list[Face], name: str) -> dict[str, list[int]]:
    """A (with the attribute), B and C (without) among the labelled `seeds`."""
    a, k = attribute(name), EXEMPLARS
    seen = [(s, f) for s, f in zip(seeds, found, strict=True) if f.found]
    with_a = [x for x in seen if getattr(x[1], a.flag)]
    without = [x for x in seen if not getattr(x[1], a.flag)]
    with_a.sort(key=lambda x: -getattr(x[1], a.score))  # the clearest first
    without.sort(key=lambda x: getattr(x[1], a.score))  # the clearest absence first
    if len(with_a) < k or len(without) < 2 * k:
        raise DcganError(
            f"only {len(with_a)} faces with {a.words} and {len(without)} without were found "
            f"among {len(seeds)} samples ({len(seen)} faces): {k} with and {2 * k} without "
            "are needed"
        )
    return {
        "A": [s for s, _ in with_a[:k]],
        "B": [s for s, _ in without[:k]],
        "C": [s for s, _ in without[k : 2 * k]],
    }


def pool_rate(found: list[Face], name: str) -> float:
    """The share of found faces with the attribute."""
    seen = [f for f in found if f.found]
    return sum(getattr(f, attribute(name).flag) for f in seen) / max(len(seen), 1)


def auto_concepts(
    model: Loaded, name: str, pool: int | None = None, bn: str = "batch"
) -> dict[str, list[int]]:
    """`arithmetic --auto NAME`'s concepts for 'A - B + C' among seeds 0..pool-1 (default
    AUTO_POOL)."""
    seeds = list(range(AUTO_POOL if pool is None else pool))
    return attribute_concepts(seeds, pool_faces(model, seeds, bn), name)


def faces_without(
    model: Loaded, name: str, n: int, first_seed: int | None = None, bn: str = "batch"
) -> list[int]:
    """The first `n` seeds from `first_seed` (default: the attribute's) whose sample is a
    found face without the attribute."""
    a = attribute(name)
    start = a.first_test_seed if first_seed is None else first_seed
    end, test = start + 50 * max(n, 1), []
    while len(test) < n and start < end:
        seeds = list(range(start, start + BATCH))
        found = pool_faces(model, seeds, bn)
        test += [s for s, f in zip(seeds, found, strict=True) if f.found and not getattr(f, a.flag)]
        start += BATCH
    if not test:
        raise DcganError(f"no face without {a.words} was found to test the vector on")
    return test[:n]


def attribute_rate(model: Loaded, name: str, z: torch.Tensor, bn: str = "batch") -> float:
    """The share of the samples of `z` on which the detector sees the attribute."""
    flag = attribute(name).flag
    return float(np.mean([getattr(f, flag) for f in faces(_images(model, z, bn))]))


def attribute_test(
    model: Loaded,
    name: str,
    concepts: dict[str, list[int]],
    n: int = 200,
    draws: int | None = None,
    first_seed: int | None = None,
    bn: str = "batch",
) -> dict[str, Any]:
    """The vector mean z(A) - mean z(B) added to `n` new faces without the attribute: the
    rate at which the detector sees it, against `draws` (default CONTROL_DRAWS) random
    vectors of the same norm."""
    draws = CONTROL_DRAWS if draws is None else draws
    v = latents(model, concepts["A"]).mean(0) - latents(model, concepts["B"]).mean(0)
    test = faces_without(model, name, n, first_seed, bn)
    z = latents(model, test)
    with_v = attribute_rate(model, name, z + v, bn)
    control = [attribute_rate(model, name, z + random_like(v, len(z), k), bn) for k in range(draws)]
    mean = float(np.mean(control)) if control else float("nan")
    return {
        "attribute": attribute(name).words,
        "exemplars": {"with": concepts["A"], "without": concepts["B"], "C": concepts["C"]},
        "vector_norm": round(float(v.norm()), 3),
        "test_faces": len(test),
        "test_seeds": test,
        "rate_with_vector": round(with_v, 4),
        "rate_with_random": spread(control) if control else None,
        "ratio": round(with_v / max(mean, 1e-9), 2) if control else None,
        "vector": floats(v),
    }


# Fig. 8: the turn ---------------------------------------------------------------------------


def yaw_ends(seeds: list[int], found: list[Face], k: int) -> tuple[list[int], list[int]]:
    """The `k` most left- and the `k` most right-turned found faces (by yaw)."""
    ranked = sorted((f.yaw, s) for s, f in zip(seeds, found, strict=True) if f.found)
    if len(ranked) < 2 * k:
        raise DcganError(
            f"only {len(ranked)} faces were found among {len(seeds)} samples: the turn vector "
            f"needs {2 * k} (--ends {k} at each end)"
        )
    return [s for _, s in ranked[:k]], [s for _, s in ranked[-k:]]


def yaw_rows(
    model: Loaded, rows: torch.Tensor, d: torch.Tensor, scale: float, frames: int, bn: str
) -> tuple[np.ndarray, torch.Tensor]:
    """Each row's z moved from z - scale*d to z + scale*d in `frames` steps (d: one direction,
    or one per row): the yaw of every frame (rows, frames) and the images."""
    d = d.expand(len(rows), -1) if d.dim() == 1 else d
    t = torch.linspace(-scale, scale, frames)
    z = (rows[:, None] + t[None, :, None] * d[:, None]).flatten(0, 1)
    images = _images(model, z, bn)
    yaw = np.array([f.yaw for f in faces(images)]).reshape(len(rows), frames)
    return yaw, images


def monotone_share(yaw: np.ndarray, sign: int | None, tol: float = TURN_TOLERANCE) -> float:
    """Share of rows (rows, frames) whose yaw moves monotonically (steps back of at most `tol`
    degrees allowed) by >= TURN_DEGREES in total, in direction `sign` (None: either)."""
    ok = []
    for row in yaw:
        if np.isnan(row).any():
            ok.append(False)
            continue
        steps, total = np.diff(row), row[-1] - row[0]
        signs = [sign] if sign else [1, -1]
        ok.append(any(s * total >= TURN_DEGREES and (s * steps >= -tol).all() for s in signs))
    return float(np.mean(ok))


def landmark_turn(
    model: Loaded,
    config: TurnConfig | None = None,
    first_row_seed: int = 100_000,
    bn: str = "batch",
    draws: int | None = None,
    **options: Any,
) -> tuple[torch.Tensor, dict]:
    """`turn --pose landmarks`: the turn vector from the yaw of the faces of seeds
    0..pool-1, `rows` new faces moved along it, and the share of rows that turn, against
    `draws` (default CONTROL_DRAWS) random directions of the same norm (where a turn either
    way counts)."""
    c = configure(TurnConfig, config, options)
    draws = CONTROL_DRAWS if draws is None else draws
    seeds = list(range(c.pool))
    left, right = yaw_ends(seeds, pool_faces(model, seeds, bn), c.ends)
    v = latents(model, right).mean(0) - latents(model, left).mean(0)
    row_seeds = list(range(first_row_seed, first_row_seed + c.rows))
    rows = latents(model, row_seeds)
    yaw, images = yaw_rows(model, rows, v, c.scale, c.frames, bn)
    controls = [
        monotone_share(
            yaw_rows(model, rows, random_like(v, c.rows, k), c.scale, c.frames, bn)[0], None
        )
        for k in range(draws)
    ]
    record = {
        "pose": "landmarks",
        "left": left,
        "right": right,
        "row_seeds": row_seeds,
        "scale": c.scale,
        "vector_norm": round(v.norm().item(), 4),
        "yaw_rows_deg": np.round(yaw, 1).tolist(),
        "mean_yaw_change_deg": round(float(np.nanmean(yaw[:, -1] - yaw[:, 0])), 2),
        "turn_success": monotone_share(yaw, 1),
        "turn_success_strict": monotone_share(yaw, 1, 0.0),
        "turn_success_random": spread(controls) if controls else None,
        "turn_vector": floats(v),
    }
    return images, record


# paper §6.3.1: forgetting boxes ------------------------------------------------------------


def eye_boxes(images: torch.Tensor) -> list[list[tuple[float, float, float, float]]]:
    """The landmark eye boxes of each found face (none where the HOG detector finds none), in
    the images' own pixels: `forget --auto landmark-eyes`."""
    return [f.eye_boxes() if f.found else [] for f in faces(images)]


# Replication over exemplar pools (bench/digiface_pools.py) ---------------------------------
# The exemplar rule above for any number k of exemplars, and the control vectors built from
# labelled or unlabelled faces chosen at random.


def ranked(seeds: list[int], found: list[Face], name: str) -> tuple[list[int], list[int]]:
    """The found `seeds` with the attribute, the clearest first, and those without it, the
    clearest absence first: the order attribute_concepts picks its exemplars in."""
    a = attribute(name)
    seen = [(s, getattr(f, a.score)) for s, f in zip(seeds, found, strict=True) if f.found]
    flags = {s: getattr(f, a.flag) for s, f in zip(seeds, found, strict=True) if f.found}
    with_a = sorted((x for x in seen if flags[x[0]]), key=lambda x: -x[1])
    without = sorted((x for x in seen if not flags[x[0]]), key=lambda x: x[1])
    return [s for s, _ in with_a], [s for s, _ in without]


def top_exemplars(seeds: list[int], found: list[Face], name: str, k: int) -> dict[str, list[int]]:
    """A: the `k` clearest faces with the attribute, B: the `k` clearest without it (for
    k = EXEMPLARS, attribute_concepts' A and B)."""
    with_a, without = ranked(seeds, found, name)
    if len(with_a) < k or len(without) < k:
        raise DcganError(
            f"only {len(with_a)} faces with {attribute(name).words} and {len(without)} without "
            f"were found among {len(seeds)} samples: {k} of each are needed"
        )
    return {"A": with_a[:k], "B": without[:k]}


def mean_difference(
    model: Loaded, a: list[int], b: list[int], norm: float | None = None
) -> torch.Tensor:
    """mean z(a) - mean z(b), rescaled to length `norm` when given."""
    v = latents(model, a).mean(0) - latents(model, b).mean(0)
    return v if norm is None else v / v.norm() * norm


def disjoint_draw(
    seeds: list[int], k: int, rng: np.random.Generator, sets: int = 2
) -> list[list[int]]:
    """`sets` disjoint sets of `k` seeds each, drawn at random from `seeds`."""
    if sets * k > len(seeds):
        raise DcganError(f"{sets} sets of {k} need {sets * k} seeds; only {len(seeds)} were given")
    picked = rng.choice(len(seeds), sets * k, replace=False)
    return [[seeds[i] for i in picked[j * k : (j + 1) * k]] for j in range(sets)]
