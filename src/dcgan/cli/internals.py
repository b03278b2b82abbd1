"""Verbs that look inside the networks: visualize (D's features, paper §6.2) and forget
(G's object maps, paper §6.3.1). Their options are dcgan.experiments.options'."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Literal

from dcgan.cli.args import Checkpoint, add_verb, png_out
from dcgan.errors import DcganError
from dcgan.experiments.options import HIT_RATE_N, ForgetConfig, VisualizeConfig
from dcgan.options import MAX_IMAGES, count, opt


@dataclass
class ForgetArgs:
    model: Checkpoint
    config: ForgetConfig
    boxes: str | None = opt(
        None, 'JSON {"seed": [[x0, y0, x1, y1], ...], ...} in image pixels (or --auto)'
    )
    auto: Literal["eyes", "landmark-eyes"] | None = opt(
        None,
        "boxes from a detector on seeds 0..n-1 (or --boxes): eyes (OpenCV's eye cascade) or "
        "landmark-eyes (dlib's landmark eye boxes on the faces it finds)",
    )
    n: int = opt(150, "with --auto: samples the detector looks at", check=count(MAX_IMAGES))
    detect: Literal["eyes", "landmark-eyes"] | None = opt(
        None, "detector of the hit-rate test (default with --auto: eyes, the eye cascade)"
    )
    test_n: int = opt(
        HIT_RATE_N,
        "new samples of the hit-rate test, 0 for none",
        check=count(MAX_IMAGES, low=0),
    )
    out: str = opt("forget.png", "PNG (a .json goes beside it) or directory")


@dataclass
class VisualizeArgs:
    model: Checkpoint
    config: VisualizeConfig
    data: str = opt("", "real images (any source prepare reads)", required=True)
    out: str = opt("visualize.png", "PNG (a .json goes beside it) or directory")


def detector(name: str):
    """The box detector of --auto and --detect."""
    if name == "landmark-eyes":
        from dcgan.experiments.concepts import eye_boxes

        return eye_boxes
    from dcgan.experiments import detect

    return getattr(detect, name)


def cmd_forget(a: ForgetArgs) -> None:
    from dcgan.experiments import forget
    from dcgan.sampling import load

    if (a.boxes is None) == (a.auto is None):
        raise DcganError("forget needs one of --boxes FILE and --auto DETECTOR")
    if a.config.top and a.config.rank == "causal" and not (a.detect or a.auto):
        raise DcganError("--rank causal needs a detector of the object: --detect or --auto")
    png_out(a.out)
    if "landmark-eyes" in (a.auto, a.detect):
        from dcgan.experiments.landmarks import require_landmarks

        require_landmarks()
    model = load(a.model.checkpoint, ema=not a.model.no_ema)
    bn = a.model.bn
    if a.boxes:
        boxes = forget.load_boxes(a.boxes, model.generator.config.size)
    else:
        boxes = forget.detected_boxes(model, list(range(a.n)), detector(a.auto), bn)
    # The hit rate's default is the eye cascade even after landmark boxes: a detector that
    # took no part in fitting the classifier (as in bench/digiface_latent.py). --rank causal
    # orders the maps by the same detector, on the boxed samples, never on the test ones.
    name = a.detect or ("eyes" if a.auto else None)
    result = forget.forget(model, boxes, a.config, bn=bn, detector=detector(name) if name else None)
    rule = (
        f"first {a.config.top} by {a.config.rank} of weight > 0" if a.config.top else "weight > 0"
    )
    print(
        f"dropped {len(result.dropped)} of {result.maps} maps ({rule}; classifier accuracy "
        f"{result.accuracy:.3f} on {result.counts['positives']} boxed and "
        f"{result.counts['negatives']} other positions)"
    )
    if name and a.test_n:
        r = forget.hit_rates(model, result, detector(name), a.test_n, bn=bn)
        print(
            f"{name} hit rate on {a.test_n} samples: {r['before']['rate']:.3f} intact, "
            f"{r['after']['rate']:.3f} without the maps, {r['random']['rate']:.3f} without as "
            "many random maps"
        )
    print(f"written to {', '.join(map(str, result.save(a.out)))}")


def cmd_visualize(a: VisualizeArgs) -> None:
    from dcgan.experiments.visualize import visualize
    from dcgan.sampling import load

    png_out(a.out)
    model = load(a.model.checkpoint, ema=not a.model.no_ema)
    v = visualize(model, a.data, a.config)
    focus = v.record()["focus_top10"]
    print(
        f"channels {v.channels}; gradient mass in the top 10% pixels: trained D "
        f"{focus['trained']:.3f}, random D {focus['random']:.3f}; "
        f"written to {', '.join(map(str, v.save(a.out)))}"
    )


def register(verbs: argparse._SubParsersAction) -> None:
    add_verb(
        verbs,
        "forget",
        ForgetArgs,
        cmd_forget,
        "make G forget an object: drop its maps (paper §6.3.1)",
    )
    add_verb(
        verbs,
        "visualize",
        VisualizeArgs,
        cmd_visualize,
        "guided backprop of D's last-layer features (paper §6.2)",
    )
