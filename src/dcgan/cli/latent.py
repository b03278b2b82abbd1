"""Verbs of PAPER §5 (the paper's §6): sheet, arithmetic, turn, neighbors."""

from __future__ import annotations

import argparse

from dcgan.cli.args import sample_flags
from dcgan.config import ARITHMETIC_NEIGHBOURS, ARITHMETIC_NOISE

CONCEPTS = "ABCDE"  # the concept flags of `dcgan arithmetic`: --A 1,2,3 --B ...


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


def register(verbs: argparse._SubParsersAction) -> None:
    p = verbs.add_parser("sheet", help="numbered contact sheet for picking seeds by eye")
    sample_flags(p)
    p.add_argument("--n", type=int, default=100, help="number of samples (default: %(default)s)")
    p.add_argument("--seeds", help="seeds such as 100-199 (default: 0..n-1)")
    p.add_argument("--out", default="sheet.png", help="PNG or directory (default: %(default)s)")
    p.set_defaults(func=cmd_sheet)

    p = verbs.add_parser("arithmetic", help="vector arithmetic on averaged z (PAPER §6.3.2)")
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
