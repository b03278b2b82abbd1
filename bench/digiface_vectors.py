"""Paper §6.3.2 vector arithmetic and the Fig. 8 turn on the DigiFace generator, each
against random vectors of the same norm (used by bench/digiface_latent.py). The exemplars,
the vectors, the detectors and the turn rule are dcgan.experiments.concepts', the same
functions that `dcgan arithmetic --auto` and `dcgan turn` call."""

from __future__ import annotations

import numpy as np
import torch

from dcgan.experiments import concepts
from dcgan.experiments.concepts import monotone_share, random_like, spread, yaw_ends, yaw_rows
from dcgan.experiments.latent import arithmetic, latents
from dcgan.sampling import generate

BN = "running"  # the tutorial's eval mode: its running statistics
ATTRS = {"mouth_open": "mouth-open", "glasses": "glasses"}  # JSON key -> concepts' name


def images_of(model, z: torch.Tensor) -> torch.Tensor:
    return generate(model.generator, z, BN, model.config.z_dist)


def pool_faces(model, seeds: list[int]) -> list:
    return concepts.pool_faces(model, seeds, BN)


# paper §6.3.2 ------------------------------------------------------------------------------


def arithmetic_test(model, pool: list, pool_seeds: list[int], attr: str, args) -> dict:
    name = ATTRS[attr]
    chosen = concepts.attribute_concepts(pool_seeds, pool, name)
    # Fig. 7: A - B + C (with - without + another without) and its neighbours.
    figure = arithmetic(model, "A - B + C", chosen, bn=BN).figure()
    r = concepts.attribute_test(model, name, chosen, args.test, args.draws, bn=BN)
    with_v, control = r["rate_with_vector"], r["rate_with_random"]["mean"]
    return {
        "attribute": r["attribute"],
        "exemplars": r["exemplars"],
        "pool_rate": round(concepts.pool_rate(pool, name), 4),
        **{k: r[k] for k in ("vector_norm", "test_faces", "rate_with_vector", "rate_with_random")},
        "ratio": r["ratio"],
        "goal": ">= 3x the control",
        "met": bool(with_v >= 3 * control and with_v > 0),
    }, figure


# Fig. 8 ------------------------------------------------------------------------------------


def turn_test(model, pool: list, pool_seeds: list[int], args):
    """The turn measure; returns its record, the rows' images and the turn vector."""
    left, right = yaw_ends(pool_seeds, pool, args.turn_k)
    v = latents(model, right).mean(0) - latents(model, left).mean(0)
    rows = latents(model, range(400_000, 400_000 + args.rows))

    def yaw_of(d: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
        return yaw_rows(model, rows, d, args.scale, args.frames, BN)

    yaw_v, images = yaw_of(v)
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
