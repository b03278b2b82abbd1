"""`dcgan VERB ...`: thin verbs over the Python API. Flags come from the config dataclasses,
so the CLI and the API share one table of defaults."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from pathlib import Path

from dcgan.config import ARITHMETIC_NEIGHBOURS, ARITHMETIC_NOISE, TrainConfig
from dcgan.errors import DcganError

CONCEPTS = "ABCDE"  # the concept flags of `dcgan arithmetic`: --A 1,2,3 --B ...


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type, skip: tuple = ()) -> None:
    """One flag per field of `cls` (nested dataclasses flattened), help and default included."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            add_dataclass_args(parser, kind, skip)
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_text = f.metadata.get("help", "") + " (default: %(default)s)"
        if kind is bool:
            parser.add_argument(
                _flag(f.name),
                action=argparse.BooleanOptionalAction,
                default=default,
                help=help_text,
            )
            continue
        base = next((t for t in typing.get_args(kind) if t is not type(None)), kind)
        if typing.get_origin(base) is tuple:
            base = _int_list
        parser.add_argument(_flag(f.name), type=base, default=default, help=help_text)


def _int_list(text: str) -> tuple[int, ...]:
    """'2,1,2' -> (2, 1, 2), for the tuple fields of the config dataclasses."""
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 2,1,2, got {text!r}") from None


def build_dataclass(cls: type, args: argparse.Namespace):
    """The inverse of add_dataclass_args."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            values[f.name] = build_dataclass(hints[f.name], args)
        elif hasattr(args, f.name):
            values[f.name] = getattr(args, f.name)
    return cls(**values)


def cmd_prepare(args: argparse.Namespace) -> None:
    from dcgan.data.prepare import prepare

    out = prepare(
        args.source,
        args.out,
        size=args.size,
        channels=args.channels,
        format=args.format,
        key=args.key,
        split=args.split,
        workers=args.workers,
    )
    print(f"packed dataset written to {out}")


def cmd_train(args: argparse.Namespace) -> int:
    from dcgan.training import train

    result = train(build_dataclass(TrainConfig, args), resume=args.resume)
    state = "interrupted" if result.interrupted else "finished"
    print(f"{state} at step {result.step}; run directory: {result.run_dir}")
    if result.interrupted:
        print(f"resume with: dcgan train --resume {result.run_dir}")
        return 130
    return 0


def cmd_sample(args: argparse.Namespace) -> None:
    from dcgan.sampling import load, parse_seeds, sample, save_each, save_grid

    model = load(args.checkpoint, ema=not args.no_ema)
    seeds = parse_seeds(args.seeds) if args.seeds else list(range(args.n))
    images = sample(model, seeds=seeds, bn=args.bn)
    out = Path(args.out)
    if args.out.endswith(("/", "\\")) or out.is_dir() or not out.suffix:
        paths = save_each(images, seeds, out)
        print(f"{len(paths)} images written to {out}/")
    else:
        print(f"grid of {len(seeds)} samples written to {save_grid(images, out)}")


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


def cmd_convert(args: argparse.Namespace) -> None:
    from dcgan.convert import convert

    release = convert(args.source, args.out, epoch=args.epoch)
    m = release.config.model
    print(
        f"{release.layout.name} model ({release.layout.about}; {m.size} px, z ~ "
        f"{release.config.z_dist} {m.nz}-d, {m.kernel}x{m.kernel} kernels, strides "
        f"{','.join(map(str, m.layer_strides))}) written to {args.out}"
    )


def _sample_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="checkpoint file or run directory")
    p.add_argument(
        "--bn",
        choices=("batch", "running"),
        default="batch",
        help="BatchNorm statistics at sampling (default: %(default)s)",
    )
    p.add_argument("--no-ema", action="store_true", help="use G, not its EMA, when both exist")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr and exit code 2."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    top = _Parser(
        prog="dcgan",
        description="Deep Convolutional GANs (Radford et al., ICLR 2016).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    verbs = top.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=_Parser)

    p = verbs.add_parser("prepare", help="pack a source into a uint8 array once")
    p.add_argument("source", help="folder, tar, LMDB, idx, CIFAR, SVHN .mat, npz/npy or a name")
    p.add_argument("out", help="output directory of the packed dataset")
    p.add_argument("--size", type=int, default=64, help="image side (default: %(default)s)")
    p.add_argument("--channels", type=int, choices=(1, 3), help="default: the source's")
    p.add_argument("--format", help="source format (default: detected from the path)")
    p.add_argument("--key", help="array key in an npz")
    p.add_argument("--split", default="train", help="split to read (default: %(default)s)")
    p.add_argument("--workers", type=int, help="decoding processes (default: all cores)")
    p.set_defaults(func=cmd_prepare)

    p = verbs.add_parser("train", help="train G and D (PAPER §2)")
    add_dataclass_args(p, TrainConfig)
    p.add_argument("--resume", help="run directory or checkpoint to continue exactly")
    p.set_defaults(func=cmd_train)

    p = verbs.add_parser("sample", help="write samples: a grid PNG or one PNG per seed")
    _sample_flags(p)
    p.add_argument("--n", type=int, default=64, help="number of samples (default: %(default)s)")
    p.add_argument("--seeds", help="seeds such as 0-63 or 3,17,42 (default: 0..n-1)")
    p.add_argument(
        "--out",
        default="samples.png",
        help="grid .png, or a directory/ for one PNG per seed (default: %(default)s)",
    )
    p.set_defaults(func=cmd_sample)

    p = verbs.add_parser("interpolate", help="walk between random points of z (PAPER §6.1)")
    _sample_flags(p)
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
    _sample_flags(p)
    p.add_argument("--n", type=int, default=100, help="number of samples (default: %(default)s)")
    p.add_argument("--seeds", help="seeds such as 100-199 (default: 0..n-1)")
    p.add_argument("--out", default="sheet.png", help="PNG or directory (default: %(default)s)")
    p.set_defaults(func=cmd_sheet)

    p = verbs.add_parser("arithmetic", help="vector arithmetic on averaged z (PAPER §6.3.2)")
    _sample_flags(p)
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
    _sample_flags(p)
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
    _sample_flags(p)
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

    p = verbs.add_parser(
        "convert", help="the paper authors' released Theano models as a checkpoint"
    )
    p.add_argument("source", help="released model folder (*_gen_params.jl_NN.npy and D's)")
    p.add_argument("--out", required=True, help="checkpoint file to write (.pt)")
    p.add_argument("--epoch", type=int, help="which saved epoch, when the folder holds several")
    p.set_defaults(func=cmd_convert)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except DcganError as e:
        print(f"dcgan: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # unwritable output, full disk, ...
        where = f": {e.filename}" if e.filename else ""
        print(f"dcgan: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dcgan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
