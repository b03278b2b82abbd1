"""Paper §6.3.1 (Fig. 6): making G forget to draw an object.

On samples with object boxes, a logistic regression learns to tell G's activations at
positions inside the boxes (positives) from those at random positions outside them in the
same images (negatives). Every feature map with a positive weight is then zeroed at all
positions, by a forward hook on a copy of G, and the same z are drawn with and without them.

The layer is G's second-highest hidden conv layer by default (16x16 at 64 px): the paper
dropped 200 maps, more than the 128 of the last hidden layer of its Figure 1 generator, so
its "second highest" is the 16x16x256 layer. A position of the layer stands for the image
pixels under it; it is inside a box when its centre is.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from dcgan.errors import DcganError
from dcgan.experiments.figures import labelled, png_path, save_json, stack
from dcgan.experiments.options import HIT_RATE_N, ForgetConfig
from dcgan.experiments.zfile import latents
from dcgan.options import configure
from dcgan.sampling import Loaded, generate, grid_image, save_png, with_bn_mode

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in image pixels, x1 and y1 excluded
Detector = Callable[[torch.Tensor], list[list[Box]]]
CAUSAL_N = 200  # boxed samples on which `rank="causal"` drops each map alone


def check_boxes(raw: object, size: int, where: str = "boxes") -> dict[int, list[Box]]:
    """{seed: [[x0, y0, x1, y1], ...]} (seeds as ints or digit strings) checked against a
    size x size image; seeds with an empty list are samples without the object."""
    if not isinstance(raw, dict) or not raw:
        raise DcganError(f"{where}: expected an object mapping seeds to lists of [x0, y0, x1, y1]")
    boxes: dict[int, list[Box]] = {}
    for key, value in raw.items():
        if isinstance(key, bool) or not (str(key).isascii() and str(key).isdigit()):
            raise DcganError(f"{where}: bad seed {key!r}: use a non-negative integer")
        ok = isinstance(value, list) and all(
            isinstance(b, list | tuple)
            and len(b) == 4
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in b)
            for b in value
        )
        if not ok:
            raise DcganError(f"{where}: seed {key}: expected a list of [x0, y0, x1, y1] boxes")
        for x0, y0, x1, y1 in value:
            if not (0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size):
                raise DcganError(
                    f"{where}: seed {key}: box {[x0, y0, x1, y1]} is not inside the "
                    f"{size}x{size} image (x0 < x1, y0 < y1, in 0..{size})"
                )
        boxes[int(key)] = [tuple(float(v) for v in b) for b in value]
    if not any(boxes.values()):
        raise DcganError(f"{where}: no boxes at all")
    return boxes


def load_boxes(path: str | Path, size: int) -> dict[int, list[Box]]:
    """The boxes of a JSON file written by hand or by a detector (see check_boxes)."""
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as e:
        raise DcganError(f"cannot read boxes {path}: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DcganError(f"{path}: not a JSON file ({e})") from None
    return check_boxes(raw, size, str(path))


def detected_boxes(
    model: Loaded, seeds: list[int], detector: Detector, bn: str = "batch"
) -> dict[int, list[Box]]:
    """Boxes of `detector` (e.g. detect.eyes) on the samples of `seeds`."""
    images = generate(model.generator, latents(model, seeds), bn, model.config.z_dist)
    s = float(images.shape[-1])
    return {
        seed: [(max(x0, 0), max(y0, 0), min(x1, s), min(y1, s)) for x0, y0, x1, y1 in found]
        for seed, found in zip(seeds, detector(images), strict=True)
    }


def block_index(g: nn.Module, layer: int) -> int:
    """Index in g.blocks of the `layer`-th hidden conv layer from the top (1: the last one
    before the image)."""
    hidden = len(g.blocks) - 1
    if not 1 <= layer <= hidden:
        raise DcganError(
            f"G has {hidden} hidden conv layer(s) ({g.config.size} px): it has no conv layer "
            f"{layer} from the top (the paper's second-highest layer needs 32 px or more)"
        )
    return hidden - layer


def without_maps(
    model: Loaded, maps: list[int], layer: int = 2, bn: str = "batch", renormalise: bool = False
) -> nn.Module:
    """A copy of G whose conv layer `layer` (from the top) outputs zeros in `maps`; sample it
    with bn="running".

    By default BatchNorm is set up (as `bn` says) before the maps go, so the layers above
    normalise as the intact G does. With `renormalise` (and bn="batch") the reference batch
    runs without the maps, as in the paper's code, which normalised every sampled batch by
    its own statistics: the layers above then make up for the missing maps' mean and scale.
    """
    z_dist = model.config.z_dist
    g = copy.deepcopy(model.generator) if renormalise else with_bn_mode(model.generator, bn, z_dist)
    block = g.blocks[block_index(g, layer)]
    if maps:
        index = torch.tensor(sorted(set(maps)), dtype=torch.long)
        block.register_forward_hook(lambda m, i, out: out.index_fill(1, index.to(out.device), 0))
    return with_bn_mode(g, bn, z_dist) if renormalise else g


@dataclass
class Forgetting:
    """The fitted classifier, the maps it dropped, and samples drawn with and without them."""

    layer: int
    maps: int  # feature maps of the layer
    side: int  # its spatial side
    weights: torch.Tensor  # (maps,) logistic-regression weights
    dropped: list[int]  # maps with weight > 0
    control: list[int]  # as many random maps
    boxes: dict[int, list[Box]]
    counts: dict[str, int]  # positives, negatives
    accuracy: float  # of the classifier on its own training positions
    shown: list[int]
    images: dict[str, torch.Tensor]  # "G", "forget", "random" -> samples of `shown`
    renormalise: bool = False  # BatchNorm above the layer re-estimated without the maps
    rates: dict = field(default_factory=dict)  # filled by hit_rates
    top: int = 0  # 0: every map of weight > 0 dropped; else the first `top` by `rank`
    rank: str = "weight"
    causal_falls: dict[int, float] = field(default_factory=dict)  # with rank="causal"

    def record(self) -> dict:
        return {
            "layer_from_top": self.layer,
            "layer_shape": [self.maps, self.side, self.side],
            "renormalise": self.renormalise,
            "samples": len(self.boxes),
            "boxes": {str(s): [list(b) for b in bs] for s, bs in self.boxes.items()},
            **self.counts,
            "train_accuracy": round(self.accuracy, 4),
            "weights": [round(float(w), 6) for w in self.weights],
            "top": self.top,
            "rank": self.rank,
            **({"causal_falls": self.causal_falls} if self.causal_falls else {}),
            "dropped": self.dropped,
            "control_maps": self.control,
            "shown_seeds": self.shown,
            **({"hit_rates": self.rates} if self.rates else {}),
        }

    def figure(self) -> Image.Image:
        """Fig. 6: the same z with all maps, without the dropped ones, without random ones."""
        n, k = len(self.shown), len(self.dropped)
        titles = {
            "G": f"G, seeds {','.join(map(str, self.shown))}",
            "forget": f"without the {k} maps of weight > 0 (of {self.maps})"
            if not self.top
            else f"without the first {k} maps of weight > 0 by {self.rank} (of {self.maps})",
            "random": f"without {k} random maps (control)",
        }
        rows = [labelled(grid_image(self.images[r], n), t) for r, t in titles.items()]
        return stack(rows, horizontal=False, gap=4)

    def save(self, out: str | Path) -> list[Path]:
        png = png_path(out, "forget")
        return [save_png(self.figure(), png), save_json(png.with_suffix(".json"), self.record())]


@torch.no_grad()
def _activations(model: Loaded, seeds: list[int], layer: int, bn: str) -> torch.Tensor:
    g = with_bn_mode(model.generator, bn, model.config.z_dist)
    index = block_index(g, layer) + 1  # intermediates start with the projection
    z = latents(model, seeds).to(next(g.parameters()).device)
    return torch.cat([g.intermediates(b)[index].cpu() for b in z.split(256)])


def inside(boxes: list[list[Box]], side: int, size: int) -> torch.Tensor:
    """(N, side, side) bool: positions of a side x side layer whose centre lies in a box."""
    centre = (torch.arange(side) + 0.5) * size / side
    mask = torch.zeros(len(boxes), side, side, dtype=torch.bool)
    for i, image_boxes in enumerate(boxes):
        for x0, y0, x1, y1 in image_boxes:
            rows = (centre >= y0) & (centre < y1)
            cols = (centre >= x0) & (centre < x1)
            mask[i] |= rows[:, None] & cols[None, :]
    return mask


def fit_weights(
    acts: torch.Tensor, mask: torch.Tensor, negatives: float = 1.0, seed: int = 0
) -> tuple[torch.Tensor, dict[str, int], float]:
    """Logistic-regression weights per map: positions in `mask` against `negatives` times as
    many random positions outside it. Features are standardised, which keeps each weight's
    sign; a map that never fires gets weight 0."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = acts.permute(0, 2, 3, 1)  # (N, side, side, maps)
    pos, out = x[mask], x[~mask]
    if not len(pos):
        raise DcganError(
            f"the boxes cover no position of the {mask.shape[-1]}x{mask.shape[-1]} layer"
        )
    if not len(out):
        raise DcganError("the boxes cover every position: none is left as a negative")
    n_neg = min(len(out), max(1, round(negatives * len(pos))))
    neg = out[torch.randperm(len(out), generator=torch.Generator().manual_seed(seed))[:n_neg]]
    features = torch.cat([pos, neg]).double().numpy()
    labels = [1] * len(pos) + [0] * len(neg)
    scaled = StandardScaler().fit_transform(features)
    clf = LogisticRegression(max_iter=2000).fit(scaled, labels)
    weights = torch.from_numpy(clf.coef_[0]).float()
    weights[torch.from_numpy(features.std(0) == 0)] = 0.0
    return weights, {"positives": len(pos), "negatives": len(neg)}, clf.score(scaled, labels)


def causal_falls(
    model: Loaded,
    seeds: list[int],
    maps: list[int],
    layer: int,
    detector: Detector,
    bn: str = "batch",
    renormalise: bool = False,
) -> dict[int, float]:
    """Per map, how much the mean count of `detector`'s boxes on the samples of `seeds` falls
    when that map alone is dropped."""
    z = latents(model, seeds)

    def mean_count(drop: list[int]) -> float:
        images = generate(without_maps(model, drop, layer, bn, renormalise), z, "running")
        return sum(map(len, detector(images))) / len(seeds)

    base = mean_count([])
    return {m: base - mean_count([m]) for m in maps}


def forget(
    model: Loaded,
    boxes: dict[int, list[Box]],
    config: ForgetConfig | None = None,
    negatives: float = 1.0,
    seed: int = 0,
    bn: str = "batch",
    detector: Detector | None = None,
    **options: Any,
) -> Forgetting:
    """Fig. 6: fit the classifier on the samples of `boxes` ({seed: boxes}), drop the maps of
    weight > 0 (or the first `top` of them by `rank`) and draw the first `show` boxed seeds
    with and without them; `options` are ForgetConfig's fields. rank="causal" drops each map
    of weight > 0 alone on the first CAUSAL_N samples of `boxes` and orders them by the fall
    of `detector`'s count."""
    c = configure(ForgetConfig, config, options)
    layer, show, renormalise = c.layer, c.show, c.renormalize
    if c.rank == "causal" and not c.top:
        raise DcganError("rank causal orders the maps --top keeps: give --top N")
    if c.rank == "causal" and detector is None:
        raise DcganError("rank causal needs a detector of the object (--detect or --auto)")
    size = model.generator.config.size
    boxes = check_boxes(boxes, size)
    seeds = list(boxes)
    acts = _activations(model, seeds, layer, bn)
    mask = inside([boxes[s] for s in seeds], acts.shape[-1], size)
    weights, counts, accuracy = fit_weights(acts, mask, negatives, seed)
    dropped = [int(i) for i in torch.nonzero(weights > 0).flatten()]
    falls: dict[int, float] = {}
    if c.top and c.rank == "causal":
        falls = causal_falls(model, seeds[:CAUSAL_N], dropped, layer, detector, bn, renormalise)
        dropped = sorted(sorted(dropped, key=lambda m: -falls[m])[: c.top])
    elif c.top:
        dropped = sorted(sorted(dropped, key=lambda m: -float(weights[m]))[: c.top])
    maps = acts.shape[1]
    control = sorted(
        torch.randperm(maps, generator=torch.Generator().manual_seed(seed))[: len(dropped)].tolist()
    )
    shown = [s for s in seeds if boxes[s]][:show]
    z = latents(model, shown)
    images = {
        name: generate(without_maps(model, m, layer, bn, renormalise), z, "running")
        for name, m in (("G", []), ("forget", dropped), ("random", control))
    }
    return Forgetting(
        layer,
        maps,
        acts.shape[-1],
        weights,
        dropped,
        control,
        boxes,
        counts,
        accuracy,
        shown,
        images,
        renormalise,
        top=c.top,
        rank=c.rank,
        causal_falls={m: round(f, 4) for m, f in falls.items()},
    )


def hit_rates(
    model: Loaded,
    result: Forgetting,
    detector: Detector,
    n: int = HIT_RATE_N,
    controls: int = 3,
    first_seed: int = 100_000,
    bn: str = "batch",
) -> dict:
    """The share of `n` new samples where `detector` finds the object: with G intact, without
    the dropped maps, and without as many random maps (`controls` draws, the first being
    result.control). Stored in result.rates too."""
    z = latents(model, range(first_seed, first_seed + n))
    k, rng = len(result.dropped), torch.Generator().manual_seed(1)
    draws = [result.control] + [
        sorted(torch.randperm(result.maps, generator=rng)[:k].tolist()) for _ in range(controls - 1)
    ]

    def draw(maps: list[int]) -> torch.Tensor:
        g = without_maps(model, maps, result.layer, bn, result.renormalise)
        return generate(g, z, "running")

    intact = draw([])

    def rate(maps: list[int]) -> dict[str, float]:
        images = draw(maps) if maps else intact
        found = detector(images)
        return {
            "rate": sum(bool(f) for f in found) / n,
            "per_image": sum(map(len, found)) / n,
            "pixel_change": (images - intact).abs().mean().item(),  # mean |diff| in [-1, 1] units
        }

    before, after = rate([]), rate(result.dropped)
    random = [rate(m) for m in draws[:controls]]
    result.rates = {
        "samples": n,
        "seeds": f"{first_seed}-{first_seed + n - 1}",
        "dropped_maps": k,
        "before": before,
        "after": after,
        "random": {
            "rate": sum(r["rate"] for r in random) / len(random),
            "per_image": sum(r["per_image"] for r in random) / len(random),
            "pixel_change": sum(r["pixel_change"] for r in random) / len(random),
            "draws": random,
            "maps": draws[:controls],
        },
    }
    return result.rates
