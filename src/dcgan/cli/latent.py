"""Verbs of the tools of paper §6: interpolate, sheet, arithmetic, turn, neighbors, forget,
visualize."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Literal

from dcgan.cli.args import Checkpoint, add_verb, png_out
from dcgan.config import ARITHMETIC_NEIGHBOURS, ARITHMETIC_NOISE
from dcgan.errors import DcganError
from dcgan.options import CACHE, MAX_IMAGES, MAX_SHOWN, NON_NEGATIVE, SEED, count, opt

CONCEPTS = "ABCDE"  # the concept flags of `dcgan arithmetic`: --A 1,2,3 --B ...
SEEDS = "seeds such as 0-63 or 3,17,42"


@dataclass
class InterpolateArgs:
    model: Checkpoint
    seeds: str | None = opt(None, "seeds of the points to walk through (default: 0..points-1)")
    points: int = opt(9, "number of points", check=count(MAX_SHOWN, low=2))
    steps: int = opt(8, "steps per segment", check=count(MAX_SHOWN))
    slerp: bool = opt(False, "spherical instead of linear")
    out: str = opt(
        "walk.png", "grid PNG (one row per segment; a .gif and .json go beside it), or a directory"
    )


@dataclass
class SheetArgs:
    model: Checkpoint
    n: int = opt(100, "number of samples", check=count(MAX_SHOWN))
    seeds: str | None = opt(None, SEEDS + " (default: 0..n-1)")
    out: str = opt("sheet.png", "PNG or directory")


@dataclass
class ArithmeticArgs:
    model: Checkpoint
    expression: str = opt(
        "A - B + C",
        'concepts joined by + and -, e.g. "A - B + C"',
        positional=True,
        optional=True,
    )
    auto: Literal["smile"] | None = opt(
        None, "pick concepts with OpenCV: A smiling, B and C neutral faces, and test the vector"
    )
    test_n: int = opt(
        200,
        "with --auto: neutral faces the smile vector is tested on",
        check=count(MAX_IMAGES, low=0),
    )
    A: str | None = opt(
        None, "exemplar seeds of concept A, e.g. 1,5,9", metavar="SEEDS", flag="--A"
    )
    B: str | None = opt(None, "exemplar seeds of concept B", metavar="SEEDS", flag="--B")
    C: str | None = opt(None, "exemplar seeds of concept C", metavar="SEEDS", flag="--C")
    D: str | None = opt(None, "exemplar seeds of concept D", metavar="SEEDS", flag="--D")
    E: str | None = opt(None, "exemplar seeds of concept E", metavar="SEEDS", flag="--E")
    noise: float = opt(ARITHMETIC_NOISE, "uniform noise around Y", check=NON_NEGATIVE)
    neighbours: int = opt(ARITHMETIC_NEIGHBOURS, "noisy neighbours of Y", check=count(MAX_SHOWN))
    noise_seed: int = opt(0, "seed of the noise", check=SEED)
    out: str = opt("arithmetic.png", "PNG (a .json goes beside it) or directory")


@dataclass
class TurnArgs:
    model: Checkpoint
    pool: int = opt(400, "seeds searched", check=count(MAX_IMAGES, low=2))
    rows: int = opt(8, "faces turned", check=count(MAX_SHOWN))
    frames: int = opt(7, "frames per row", check=count(MAX_SHOWN, low=2))
    scale: float = opt(2.0, "rows go from z - s*v to z + s*v", check=NON_NEGATIVE)
    out: str = opt("turn.png", "PNG (a .json goes beside it) or directory")


@dataclass
class NeighborsArgs:
    model: Checkpoint
    data: str = opt("", "the training data source (path or name)", required=True)
    n: int = opt(8, "samples on the sheet", check=count(MAX_SHOWN))
    k: int = opt(5, "neighbours per sample", check=count(MAX_SHOWN))
    stats: int = opt(500, "samples in the mean", check=count(MAX_IMAGES))
    held_out: int = opt(
        500, "last images of the data compared with the rest", check=count(MAX_IMAGES)
    )
    cache: str = opt(CACHE, "where sources are prepared once")
    out: str = opt("neighbors.png", "PNG (a .json goes beside it) or directory")


@dataclass
class ForgetArgs:
    model: Checkpoint
    boxes: str | None = opt(
        None, 'JSON {"seed": [[x0, y0, x1, y1], ...], ...} in image pixels (or --auto)'
    )
    auto: Literal["eyes"] | None = opt(None, "boxes from a detector on seeds 0..n-1 (or --boxes)")
    n: int = opt(150, "with --auto: samples", check=count(MAX_IMAGES))
    layer: int = opt(2, "G's hidden conv layer, counted from the top", check=count(64))
    show: int = opt(8, "seeds in the figure", check=count(MAX_SHOWN))
    renormalise: bool = opt(
        False, "BatchNorm above the layer re-estimated without the dropped maps"
    )
    detect: Literal["eyes"] | None = opt(
        None, "detector of the hit-rate test (default: the --auto one)"
    )
    test_n: int = opt(
        1000, "new samples of the hit-rate test, 0 for none", check=count(MAX_IMAGES, low=0)
    )
    out: str = opt("forget.png", "PNG (a .json goes beside it) or directory")


@dataclass
class VisualizeArgs:
    model: Checkpoint
    data: str = opt("", "real images (any source prepare reads)", required=True)
    n: int = opt(6, "images", check=count(MAX_SHOWN))
    first: int = opt(0, "first image", check=count(10**12, low=0))
    k: int = opt(4, "top channels per D", check=count(MAX_SHOWN))
    channels: tuple[int, ...] | None = opt(
        None, "channels to show instead of the top k, e.g. 3,17", check=count(10**6, low=0)
    )
    seed: int = opt(0, "seed of the random D", check=SEED)
    cache: str = opt(CACHE, "where sources are prepared once")
    out: str = opt("visualize.png", "PNG (a .json goes beside it) or directory")


def cmd_interpolate(a: InterpolateArgs) -> None:
    from dcgan.experiments.latent import interpolate
    from dcgan.sampling import load, parse_seeds

    png_out(a.out)
    seeds = parse_seeds(a.seeds) if a.seeds else None
    model = load(a.model.checkpoint, ema=not a.model.no_ema)
    walk = interpolate(model, seeds, a.points, a.steps, a.slerp, a.model.bn)
    print(f"walk through seeds {walk.seeds} written to {', '.join(map(str, walk.save(a.out)))}")


def cmd_sheet(a: SheetArgs) -> None:
    from dcgan.experiments.figures import png_path
    from dcgan.experiments.latent import sheet
    from dcgan.sampling import load, parse_seeds, save_png

    png_out(a.out)
    seeds = parse_seeds(a.seeds) if a.seeds else list(range(a.n))
    model = load(a.model.checkpoint, ema=not a.model.no_ema)
    path = save_png(sheet(model, seeds, a.model.bn), png_path(a.out, "sheet"))
    print(f"contact sheet of seeds {seeds[0]}..{seeds[-1]} written to {path}")


def cmd_arithmetic(a: ArithmeticArgs) -> None:
    from dcgan.experiments import latent
    from dcgan.experiments.figures import png_path, save_json
    from dcgan.sampling import load, parse_seeds

    png_out(a.out)
    concepts = {c: parse_seeds(getattr(a, c)) for c in CONCEPTS if getattr(a, c)}
    model = load(a.model.checkpoint, ema=not a.model.no_ema)
    bn = a.model.bn
    if a.auto:
        concepts = latent.auto_smile_concepts(model, bn=bn)
    result = latent.arithmetic(
        model, a.expression, concepts, a.noise, a.neighbours, a.noise_seed, bn
    )
    print(f"arithmetic {concepts} written to {', '.join(map(str, result.save(a.out)))}")
    if a.auto and a.test_n:
        test = latent.smile_test(model, n=a.test_n, bn=bn)
        path = save_json(png_path(a.out, "arithmetic").with_suffix(".smile.json"), test)
        print(
            f"smile rate of {test['test_faces']} neutral faces: "
            f"{test['smile_rate_with_vector']:.3f} with the smile vector, "
            f"{test['smile_rate_with_random']:.3f} with a random one of its norm ({path})"
        )


def cmd_turn(a: TurnArgs) -> None:
    from dcgan.experiments.figures import png_path, save_json
    from dcgan.experiments.latent import turn
    from dcgan.sampling import load, save_grid

    png_out(a.out)
    model = load(a.model.checkpoint, ema=not a.model.no_ema)
    images, record = turn(model, a.pool, a.rows, a.frames, a.scale, bn=a.model.bn)
    png = save_grid(images, png_path(a.out, "turn"), a.frames)
    save_json(png.with_suffix(".json"), record)
    print(f"turn success {record['turn_success']:.2f} of {a.rows} rows; written to {png}")


def cmd_neighbors(a: NeighborsArgs) -> None:
    from dcgan.experiments.neighbors import CAVEAT, neighbors
    from dcgan.sampling import load

    png_out(a.out)
    model = load(a.model.checkpoint, ema=not a.model.no_ema)
    result = neighbors(model, a.data, a.n, a.k, a.stats, a.held_out, a.model.bn, a.cache)
    paths = ", ".join(map(str, result.save(a.out)))
    print(
        f"NN-distance ratio (samples / held-out real): pixel {result.ratio('pixel'):.3f}, "
        f"D feature {result.ratio('feature'):.3f}; written to {paths}"
    )
    print(f"caveat: {CAVEAT}")


def cmd_forget(a: ForgetArgs) -> None:
    from dcgan.experiments import detect, forget
    from dcgan.sampling import load

    if (a.boxes is None) == (a.auto is None):
        raise DcganError("forget needs one of --boxes FILE and --auto DETECTOR")
    png_out(a.out)
    model = load(a.model.checkpoint, ema=not a.model.no_ema)
    bn = a.model.bn
    if a.boxes:
        boxes = forget.load_boxes(a.boxes, model.generator.config.size)
    else:
        boxes = forget.detected_boxes(model, list(range(a.n)), getattr(detect, a.auto), bn)
    result = forget.forget(model, boxes, a.layer, a.show, bn=bn, renormalise=a.renormalise)
    print(
        f"dropped {len(result.dropped)} of {result.maps} maps (weight > 0; classifier accuracy "
        f"{result.accuracy:.3f} on {result.counts['positives']} boxed and "
        f"{result.counts['negatives']} other positions)"
    )
    name = a.detect or a.auto
    if name and a.test_n:
        r = forget.hit_rates(model, result, getattr(detect, name), a.test_n, bn=bn)
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
    channels = list(a.channels) if a.channels else None
    v = visualize(model, a.data, a.n, a.k, channels, a.first, a.seed, a.cache)
    focus = v.record()["focus_top10"]
    print(
        f"channels {v.channels}; gradient mass in the top 10% pixels: trained D "
        f"{focus['trained']:.3f}, random D {focus['random']:.3f}; "
        f"written to {', '.join(map(str, v.save(a.out)))}"
    )


def register(verbs: argparse._SubParsersAction) -> None:
    add_verb(
        verbs,
        "interpolate",
        InterpolateArgs,
        cmd_interpolate,
        "walk between random points of z (paper §6.1)",
    )
    add_verb(
        verbs, "sheet", SheetArgs, cmd_sheet, "numbered contact sheet for picking seeds by eye"
    )
    add_verb(
        verbs,
        "arithmetic",
        ArithmeticArgs,
        cmd_arithmetic,
        "vector arithmetic on averaged z (paper §6.3.2)",
    )
    add_verb(
        verbs,
        "turn",
        TurnArgs,
        cmd_turn,
        "a pose vector from profile-detected faces (Fig. 8)",
    )
    add_verb(
        verbs,
        "neighbors",
        NeighborsArgs,
        cmd_neighbors,
        "nearest training images of samples (memorisation)",
    )
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
