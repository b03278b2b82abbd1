"""`dcgan VERB ...`: thin verbs over the Python API. Flags come from the config dataclasses,
so the CLI and the API share one table of defaults."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from pathlib import Path

from dcgan.config import TrainConfig
from dcgan.errors import DcganError


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
        parser.add_argument(_flag(f.name), type=base, default=default, help=help_text)


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
    from dcgan.sampling import generate, load, parse_seeds, save_grid, walk, z_from_seeds

    model = load(args.checkpoint, ema=not args.no_ema)
    seeds = parse_seeds(args.seeds) if args.seeds else list(range(args.points))
    if len(seeds) < 2:
        raise DcganError("an interpolation needs at least two seeds")
    z_dist = model.config.z_dist
    z = walk(z_from_seeds(seeds, model.generator.config.nz, z_dist), args.steps, args.slerp)
    images = generate(model.generator, z, args.bn, z_dist)
    print(f"walk through seeds {seeds} written to {save_grid(images, args.out, args.steps)}")


def _number_list(kind: type) -> typing.Callable[[str], tuple]:
    """An argparse type for comma-separated numbers: '10,100,1000' -> (10, 100, 1000)."""

    def parse(text: str) -> tuple:
        try:
            return tuple(kind(part) for part in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected numbers like 1,2,3, got {text!r}") from None

    return parse


def _classify_parser(verbs) -> None:
    from dcgan.experiments.classify import ClassifyConfig

    p = verbs.add_parser("classify", help="D features + L2-SVM with few labels (PAPER §5)")
    p.add_argument("checkpoint", help="checkpoint file or run directory")
    p.add_argument("--data", required=True, help="labelled source the examples are drawn from")
    lists = {"labels_per_class": int, "layers": int, "c_values": float}
    add_dataclass_args(p, ClassifyConfig, skip=("checkpoint", "data", *lists))
    for name, kind in lists.items():
        f = ClassifyConfig.__dataclass_fields__[name]
        default = f.default_factory() if callable(f.default_factory) else f.default
        flag = "--c" if name == "c_values" else _flag(name)
        help_text = f.metadata["help"] + " (default: %(default)s)"
        p.add_argument(flag, dest=name, type=_number_list(kind), default=default, help=help_text)
    p.set_defaults(func=cmd_classify)


def cmd_classify(args: argparse.Namespace) -> None:
    from dcgan.experiments.classify import ClassifyConfig, classify
    from dcgan.experiments.report import table

    result = classify(build_dataclass(ClassifyConfig, args))
    print(table(result), end="")
    if args.out:
        print(f"table, JSON and plot written to {args.out}/")


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
    p.add_argument("--out", default="interpolation.png", help="PNG (default: %(default)s)")
    p.set_defaults(func=cmd_interpolate)
    _classify_parser(verbs)
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
