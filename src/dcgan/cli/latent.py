"""Verbs of the tools of paper §6: interpolate, sheet, arithmetic, turn, neighbors, forget,
visualize."""

from __future__ import annotations

import argparse

from dcgan.cli.args import number_list, sample_flags
from dcgan.config import ARITHMETIC_NEIGHBOURS, ARITHMETIC_NOISE

CONCEPTS = "ABCDE"  # the concept flags of `dcgan arithmetic`: --A 1,2,3 --B ...
DETECTORS = ("eyes",)  # box detectors of `dcgan forget`: functions of experiments.detect


def cmd_interpolate(args: argparse.Namespace) -> None:
    from dcgan.experiments.latent import interpolate
    from dcgan.sampling import load, parse_seeds

    model = load(args.checkpoint, ema=not args.no_ema)
    seeds = parse_seeds(args.seeds) if args.seeds else None
    walk = interpolate(model, seeds, args.points, args.steps, args.slerp, args.bn)
    print(f"walk through seeds {walk.seeds} written to {', '.join(map(str, walk.save(args.out)))}")


def cmd_sheet(args: argparse.Namespace) -> None:
    from dcgan.experiments.figures import png_path
    from dcgan.experiments.latent import sheet
    from dcgan.sampling import load, parse_seeds, save_png

    model = load(args.checkpoint, ema=not args.no_ema)
    seeds = parse_seeds(args.seeds) if args.seeds else list(range(args.n))
    path = save_png(sheet(model, seeds, args.bn), png_path(args.out, "sheet"))
    print(f"contact sheet of seeds {seeds[0]}..{seeds[-1]} written to {path}")


def cmd_arithmetic(args: argparse.Namespace) -> None:
    from dcgan.experiments import latent
    from dcgan.experiments.figures import png_path, save_json
    from dcgan.sampling import load, parse_seeds

    model = load(args.checkpoint, ema=not args.no_ema)
    if args.auto:
        concepts = latent.auto_smile_concepts(model, bn=args.bn)
    else:
        concepts = {c: parse_seeds(getattr(args, c)) for c in CONCEPTS if getattr(args, c)}
    result = latent.arithmetic(
        model, args.expression, concepts, args.noise, args.neighbours, args.noise_seed, args.bn
    )
    print(f"arithmetic {concepts} written to {', '.join(map(str, result.save(args.out)))}")
    if args.auto and args.test_n:
        test = latent.smile_test(model, n=args.test_n, bn=args.bn)
        path = save_json(png_path(args.out, "arithmetic").with_suffix(".smile.json"), test)
        print(
            f"smile rate of {test['test_faces']} neutral faces: "
            f"{test['smile_rate_with_vector']:.3f} with the smile vector, "
            f"{test['smile_rate_with_random']:.3f} with a random one of its norm ({path})"
        )


def cmd_turn(args: argparse.Namespace) -> None:
    from dcgan.experiments.figures import png_path, save_json
    from dcgan.experiments.latent import turn
    from dcgan.sampling import load, save_grid

    model = load(args.checkpoint, ema=not args.no_ema)
    images, record = turn(model, args.pool, args.rows, args.frames, args.scale, bn=args.bn)
    png = save_grid(images, png_path(args.out, "turn"), args.frames)
    save_json(png.with_suffix(".json"), record)
    print(f"turn success {record['turn_success']:.2f} of {args.rows} rows; written to {png}")


def cmd_neighbors(args: argparse.Namespace) -> None:
    from dcgan.experiments.neighbors import neighbors
    from dcgan.sampling import load

    model = load(args.checkpoint, ema=not args.no_ema)
    result = neighbors(
        model, args.data, args.n, args.k, args.stats, args.held_out, args.bn, args.cache
    )
    paths = ", ".join(map(str, result.save(args.out)))
    print(
        f"NN-distance ratio (samples / held-out real): pixel {result.ratio('pixel'):.3f}, "
        f"D feature {result.ratio('feature'):.3f}; written to {paths}"
    )


def cmd_forget(args: argparse.Namespace) -> None:
    from dcgan.errors import DcganError
    from dcgan.experiments import detect, forget
    from dcgan.sampling import load

    if args.n < 1 or args.test_n < 0 or args.show < 1:
        raise DcganError("--n and --show must be positive and --test-n non-negative")
    model = load(args.checkpoint, ema=not args.no_ema)
    if args.boxes:
        boxes = forget.load_boxes(args.boxes, model.generator.config.size)
    else:
        seeds = list(range(args.n))
        boxes = forget.detected_boxes(model, seeds, getattr(detect, args.auto), args.bn)
    result = forget.forget(
        model, boxes, args.layer, args.show, bn=args.bn, renormalise=args.renormalise
    )
    print(
        f"dropped {len(result.dropped)} of {result.maps} maps (weight > 0; classifier accuracy "
        f"{result.accuracy:.3f} on {result.counts['positives']} boxed and "
        f"{result.counts['negatives']} other positions)"
    )
    name = args.detect or args.auto
    if name and args.test_n:
        r = forget.hit_rates(model, result, getattr(detect, name), args.test_n, bn=args.bn)
        print(
            f"{name} hit rate on {args.test_n} samples: {r['before']['rate']:.3f} intact, "
            f"{r['after']['rate']:.3f} without the maps, {r['random']['rate']:.3f} without as "
            "many random maps"
        )
    print(f"written to {', '.join(map(str, result.save(args.out)))}")


def cmd_visualize(args: argparse.Namespace) -> None:
    from dcgan.experiments.visualize import visualize
    from dcgan.sampling import load

    model = load(args.checkpoint, ema=not args.no_ema)
    channels = list(args.channels) if args.channels else None
    v = visualize(model, args.data, args.n, args.k, channels, args.first, args.seed, args.cache)
    focus = v.record()["focus_top10"]
    print(
        f"channels {v.channels}; gradient mass in the top 10% pixels: trained D "
        f"{focus['trained']:.3f}, random D {focus['random']:.3f}; "
        f"written to {', '.join(map(str, v.save(args.out)))}"
    )


def register(verbs: argparse._SubParsersAction) -> None:
    p = verbs.add_parser("interpolate", help="walk between random points of z (paper §6.1)")
    sample_flags(p)
    p.add_argument("--seeds", help="seeds of the points to walk through (default: 0..points-1)")
    p.add_argument("--points", type=int, default=9, help="number of points (default: %(default)s)")
    p.add_argument("--steps", type=int, default=8, help="steps per segment (default: %(default)s)")
    p.add_argument("--slerp", action="store_true", help="spherical instead of linear")
    p.add_argument(
        "--out",
        default="walk.png",
        help="grid PNG (one row per segment; a .gif and .json go beside it), or a directory",
    )
    p.set_defaults(func=cmd_interpolate)

    p = verbs.add_parser("sheet", help="numbered contact sheet for picking seeds by eye")
    sample_flags(p)
    p.add_argument("--n", type=int, default=100, help="number of samples (default: %(default)s)")
    p.add_argument("--seeds", help="seeds such as 100-199 (default: 0..n-1)")
    p.add_argument("--out", default="sheet.png", help="PNG or directory (default: %(default)s)")
    p.set_defaults(func=cmd_sheet)

    p = verbs.add_parser("arithmetic", help="vector arithmetic on averaged z (paper §6.3.2)")
    sample_flags(p)
    p.add_argument(
        "expression",
        nargs="?",
        default="A - B + C",
        help='concepts joined by + and -, e.g. "A - B + C" (default: %(default)s)',
    )
    p.add_argument(
        "--auto",
        choices=("smile",),
        help="pick concepts with OpenCV: A smiling, B and C neutral faces, and test the vector",
    )
    p.add_argument(
        "--test-n",
        type=int,
        default=200,
        help="with --auto: neutral faces the smile vector is tested on (default: %(default)s)",
    )
    for c in CONCEPTS:
        p.add_argument(f"--{c}", metavar="SEEDS", help=f"exemplar seeds of concept {c}, e.g. 1,5,9")
    p.add_argument(
        "--noise",
        type=float,
        default=ARITHMETIC_NOISE,
        help="uniform noise around Y (default: %(default)s)",
    )
    p.add_argument(
        "--neighbours",
        type=int,
        default=ARITHMETIC_NEIGHBOURS,
        help="noisy neighbours of Y (default: %(default)s)",
    )
    p.add_argument(
        "--noise-seed", type=int, default=0, help="seed of the noise (default: %(default)s)"
    )
    p.add_argument(
        "--out", default="arithmetic.png", help="PNG (a .json goes beside it) or directory"
    )
    p.set_defaults(func=cmd_arithmetic)

    p = verbs.add_parser("turn", help="a pose vector from profile-detected faces (Fig. 8)")
    sample_flags(p)
    p.add_argument("--pool", type=int, default=400, help="seeds searched (default: %(default)s)")
    p.add_argument("--rows", type=int, default=8, help="faces turned (default: %(default)s)")
    p.add_argument("--frames", type=int, default=7, help="frames per row (default: %(default)s)")
    p.add_argument(
        "--scale",
        type=float,
        default=2.0,
        help="rows go from z - s*v to z + s*v (default: %(default)s)",
    )
    p.add_argument("--out", default="turn.png", help="PNG (a .json goes beside it) or directory")
    p.set_defaults(func=cmd_turn)

    p = verbs.add_parser("neighbors", help="nearest training images of samples (memorisation)")
    sample_flags(p)
    p.add_argument("--data", required=True, help="the training data source (path or name)")
    p.add_argument("--n", type=int, default=8, help="samples on the sheet (default: %(default)s)")
    p.add_argument("--k", type=int, default=5, help="neighbours per sample (default: %(default)s)")
    p.add_argument(
        "--stats", type=int, default=500, help="samples in the mean (default: %(default)s)"
    )
    p.add_argument(
        "--held-out",
        type=int,
        default=500,
        help="last images of the data compared with the rest (default: %(default)s)",
    )
    p.add_argument("--cache", default=".cache/dcgan", help="where sources are prepared once")
    p.add_argument(
        "--out", default="neighbors.png", help="PNG (a .json goes beside it) or directory"
    )
    p.set_defaults(func=cmd_neighbors)

    p = verbs.add_parser("forget", help="make G forget an object: drop its maps (paper §6.3.1)")
    sample_flags(p)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--boxes", help='JSON {"seed": [[x0, y0, x1, y1], ...], ...} in image pixels'
    )
    where.add_argument("--auto", choices=DETECTORS, help="boxes from a detector on seeds 0..n-1")
    p.add_argument("--n", type=int, default=150, help="with --auto: samples (default: %(default)s)")
    p.add_argument(
        "--layer",
        type=int,
        default=2,
        help="G's hidden conv layer, counted from the top (default: %(default)s)",
    )
    p.add_argument("--show", type=int, default=8, help="seeds in the figure (default: %(default)s)")
    p.add_argument(
        "--renormalise",
        action="store_true",
        help="BatchNorm above the layer re-estimated without the dropped maps",
    )
    p.add_argument(
        "--detect",
        choices=DETECTORS,
        help="detector of the hit-rate test (default: the --auto one)",
    )
    p.add_argument(
        "--test-n",
        type=int,
        default=1000,
        help="new samples of the hit-rate test, 0 for none (default: %(default)s)",
    )
    p.add_argument("--out", default="forget.png", help="PNG (a .json goes beside it) or directory")
    p.set_defaults(func=cmd_forget)

    p = verbs.add_parser("visualize", help="guided backprop of D's last-layer features (§6.2)")
    sample_flags(p)
    p.add_argument("--data", required=True, help="real images (any source prepare reads)")
    p.add_argument("--n", type=int, default=6, help="images (default: %(default)s)")
    p.add_argument("--first", type=int, default=0, help="first image (default: %(default)s)")
    p.add_argument("--k", type=int, default=4, help="top channels per D (default: %(default)s)")
    p.add_argument(
        "--channels", type=number_list(int), help="channels to show instead of the top k, e.g. 3,17"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the random D (default: %(default)s)"
    )
    p.add_argument("--cache", default=".cache/dcgan", help="where sources are prepared once")
    p.add_argument(
        "--out", default="visualize.png", help="PNG (a .json goes beside it) or directory"
    )
    p.set_defaults(func=cmd_visualize)
