"""Paper §6.3.1 forgetting on the DigiFace generator: drop the feature maps that draw eyes,
against as many random maps (used by bench/digiface_latent.py)."""

from __future__ import annotations

import numpy as np
import torch
from digiface_vectors import BN, images_of, spread

from dcgan.experiments.concepts import eye_boxes
from dcgan.experiments.detect import eyes
from dcgan.experiments.forget import (
    _activations,
    detected_boxes,
    forget,
    inside,
    without_maps,
)
from dcgan.experiments.landmarks import faces
from dcgan.experiments.latent import latents
from dcgan.sampling import generate

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
    # The boxes of `dcgan forget --auto landmark-eyes --n FORGET_BOXES --bn running`.
    boxes = detected_boxes(model, list(range(args.forget_boxes)), eye_boxes, BN)
    z = latents(model, range(500_000, 500_000 + args.forget_n))
    intact = images_of(model, z)
    mask = torch.zeros(len(z), 64, 64)
    for i, f in enumerate(faces(intact)):
        for x0, y0, x1, y1 in f.eye_boxes():
            mask[i, max(int(y0), 0) : int(np.ceil(y1)), max(int(x0), 0) : int(np.ceil(x1))] = 1
    return boxes, {"z": z, "images": intact, "outside": 1 - mask}
