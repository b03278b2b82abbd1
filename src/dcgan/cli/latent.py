"""Verbs of the latent-space tools of paper §6.1 and §6.3.2: interpolate, sheet,
arithmetic, turn, neighbors, and project (photos into z). Their options are
dcgan.experiments.options'."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Literal

from dcgan.cli.args import Checkpoint, add_verb, png_out
from dcgan.experiments.options import (
    SMILE_TEST_N,
    ArithmeticConfig,
    InterpolateConfig,
    NeighborsConfig,
    ProjectConfig,
    SheetConfig,
    TurnConfig,
)
from dcgan.options import MAX_IMAGES, count, opt

CONCEPTS = "ABCDE"  # the concept flags of `dcgan arithmetic`: --A 1,2,3 --B ...
SEEDS = "seeds such as 0-63 or 3,17,42"


@dataclass
class InterpolateArgs:
    model: Checkpoint
    config: InterpolateConfig
    seeds: str | None = opt(
        None,
        "seeds of the points to walk through, p0, p1, ... for rows of --latents"
        " (default: 0..points-1)",
    )
    out: str = opt(
        "walk.png", "grid PNG (one row per segment; a .gif and .json go beside it), or a directory"
    )


@dataclass
class SheetArgs:
    model: Checkpoint
    config: SheetConfig
    seeds: str | None = opt(None, SEEDS + " (default: 0..n-1)")
    out: str = opt("sheet.png", "PNG or directory")


def _concept(name: str) -> str | None:
    return opt(
        None,
        f"exemplar seeds of concept {name} in the expression, e.g. 1,5,9 (pick them on a sheet)"
        " or p0, p1, ... for rows of --latents",
        metavar="SEEDS",
        flag=f"--{name}",
    )


@dataclass
class ArithmeticArgs:
    model: Checkpoint
    config: ArithmeticConfig
    expression: str = opt(
        "A - B + C",
        'concepts joined by + and -, e.g. "A - B + C"; each concept is the mean z of its'
        " exemplar seeds (--A, --B, ...)",
        positional=True,
        optional=True,
    )
    auto: Literal["smile", "glasses", "mouth-open"] | None = opt(
        None,
        "pick the concepts with a detector and test the vector: smile (OpenCV's cascades: A "
        "smiling, B and C neutral faces) or glasses, mouth-open (dlib's landmarks: A the 3 "
        "clearest faces with it, B and C the 6 clearest without)",
    )
    test_n: int = opt(
        SMILE_TEST_N,
        "with --auto: faces without the concept that its vector is tested on",
        check=count(MAX_IMAGES, low=0),
    )
    A: str | None = _concept("A")
    B: str | None = _concept("B")
    C: str | None = _concept("C")
    D: str | None = _concept("D")
    E: str | None = _concept("E")
    out: str = opt("arithmetic.png", "PNG (a .json goes beside it) or directory")


@dataclass
class TurnArgs:
    model: Checkpoint
    config: TurnConfig
    out: str = opt("turn.png", "PNG (a .json goes beside it) or directory")


@dataclass
class NeighborsArgs:
    model: Checkpoint
    config: NeighborsConfig
    data: str = opt("", "the training data source (path or name)", required=True)
    out: str = opt("neighbors.png", "PNG (a .json goes beside it) or directory")


@dataclass
class ProjectArgs:
    model: Checkpoint
    images: str = opt(
        "", "a folder of photos (searched recursively) or one image file", positional=True
    )
    config: ProjectConfig = opt(factory=ProjectConfig)
    out: str = opt(
        "project.png",
        "sheet PNG (photo | reconstruction; the z go beside it as .npy and .json), or a directory",
    )


def cmd_project(a: ProjectArgs) -> None:
    from dcgan.experiments.project import project
    from dcgan.sampling import load

    png_out(a.out)
    model = load(a.model.checkpoint, ema=not a.model.no_ema)
    result = project(model, a.images, a.config, a.model.bn)
    paths = result.save(a.out)
    mse = result.pixel_mse()
    print(
        f"{len(result.names)} images projected (distance: {result.measure}); pixel MSE"
        f" {mse.mean():.4f} (min {mse.min():.4f}, max {mse.max():.4f}); written to"
        f" {', '.join(map(str, paths))}; use {paths[1]} as --latents, its rows as p0, p1, ..."
    )


def cmd_interpolate(a: InterpolateArgs) -> None:
    from dcgan.experiments.latent import interpolate
    from dcgan.experiments.zfile import parse_points
    from dcgan.sampling import load

    png_out(a.out)
    seeds = parse_points(a.seeds) if a.seeds else None
    model = load(a.model.checkpoint, ema=not a.model.no_ema)
    walk = interpolate(model, seeds, a.config, bn=a.model.bn)
    shown = ",".join(map(str, walk.seeds))
    print(f"walk through {shown} written to {', '.join(map(str, walk.save(a.out)))}")


def cmd_sheet(a: SheetArgs) -> None:
    from dcgan.conventions import parse_seeds
    from dcgan.experiments.figures import png_path
    from dcgan.experiments.latent import sheet
    from dcgan.sampling import load, save_png

    png_out(a.out)
    seeds = parse_seeds(a.seeds) if a.seeds else list(range(a.config.n))
    model = load(a.model.checkpoint, ema=not a.model.no_ema)
    path = save_png(sheet(model, seeds, a.config, a.model.bn), png_path(a.out, "sheet"))
    print(f"contact sheet of seeds {seeds[0]}..{seeds[-1]} written to {path}")


def cmd_arithmetic(a: ArithmeticArgs) -> None:
    from dcgan.experiments import latent
    from dcgan.experiments.figures import png_path, save_json
    from dcgan.experiments.zfile import parse_points
    from dcgan.sampling import load

    png_out(a.out)
    if a.auto in ("glasses", "mouth-open"):
        from dcgan.experiments.landmarks import require_landmarks

        require_landmarks()
    concepts = {c: parse_points(getattr(a, c)) for c in CONCEPTS if getattr(a, c)}
    model = load(a.model.checkpoint, ema=not a.model.no_ema)
    bn = a.model.bn
    if a.auto == "smile":
        concepts = latent.auto_smile_concepts(model, bn=bn)
    elif a.auto:
        from dcgan.experiments import concepts as labelled

        concepts = labelled.auto_concepts(model, a.auto, bn=bn)
    result = latent.arithmetic(model, a.expression, concepts, a.config, bn)
    print(f"arithmetic {concepts} written to {', '.join(map(str, result.save(a.out)))}")
    if a.auto and a.auto != "smile" and a.test_n:
        test = labelled.attribute_test(model, a.auto, concepts, a.test_n, bn=bn)
        path = save_json(png_path(a.out, "arithmetic").with_suffix(f".{a.auto}.json"), test)
        c = test["rate_with_random"]
        print(
            f"{test['attribute']} rate of {test['test_faces']} faces without it: "
            f"{test['rate_with_vector']:.3f} with the A - B vector, {c['mean']:.3f} ± "
            f"{c['std']:.3f} with {len(c['draws'])} random vectors of its norm ({path})"
        )
    elif a.auto and a.test_n:
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
    if a.config.pose == "landmarks":
        from dcgan.experiments.landmarks import require_landmarks

        require_landmarks()
    model = load(a.model.checkpoint, ema=not a.model.no_ema)
    images, record = turn(model, a.config, bn=a.model.bn)
    png = save_grid(images, png_path(a.out, "turn"), a.config.frames)
    save_json(png.with_suffix(".json"), record)
    rows, share = a.config.rows, record["turn_success"]
    line = f"turn success {share:.3f}: {round(share * rows)} of {rows} rows turned"
    if record.get("turn_success_random"):
        c = record["turn_success_random"]
        line += (
            f" (yaw monotone by >= 15°); random directions of its norm: {c['mean']:.3f} ± "
            f"{c['std']:.3f}"
        )
    else:
        line += " (ends facing opposite ways)"
    print(f"{line}; written to {png}")


def cmd_neighbors(a: NeighborsArgs) -> None:
    from dcgan.experiments.neighbors import CAVEAT, neighbors
    from dcgan.sampling import load

    png_out(a.out)
    model = load(a.model.checkpoint, ema=not a.model.no_ema)
    result = neighbors(model, a.data, a.config, a.model.bn)
    paths = ", ".join(map(str, result.save(a.out)))
    print(
        f"NN-distance ratio (samples / held-out real): pixel {result.ratio('pixel'):.3f}, "
        f"D feature {result.ratio('feature'):.3f}; written to {paths}"
    )
    print(f"caveat: {CAVEAT}")


def register(verbs: argparse._SubParsersAction) -> None:
    add_verb(
        verbs,
        "interpolate",
        InterpolateArgs,
        cmd_interpolate,
        "walk between random points of z (paper §6.1)",
    )
    add_verb(
        verbs,
        "project",
        ProjectArgs,
        cmd_project,
        "photos into z: the latents of your own images (for §6.3.2 on them)",
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
        "a pose vector from left- and right-facing faces (Fig. 8)",
    )
    add_verb(
        verbs,
        "neighbors",
        NeighborsArgs,
        cmd_neighbors,
        "nearest training images of samples (memorization)",
    )
