"""`dcgan VERB ...`: thin verbs over the Python API. Flags come from the config dataclasses,
so the CLI and the API share one table of defaults."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from pathlib import Path

from dcgan.config import DedupConfig, FacesConfig, TrainConfig
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
    from dcgan.sampling import generate, load, parse_seeds, save_grid, walk, z_from_seeds

    model = load(args.checkpoint, ema=not args.no_ema)
    seeds = parse_seeds(args.seeds) if args.seeds else list(range(args.points))
    if len(seeds) < 2:
        raise DcganError("an interpolation needs at least two seeds")
    z_dist = model.config.z_dist
    z = walk(z_from_seeds(seeds, model.generator.config.nz, z_dist), args.steps, args.slerp)
    images = generate(model.generator, z, args.bn, z_dist)
    print(f"walk through seeds {seeds} written to {save_grid(images, args.out, args.steps)}")


def cmd_convert(args: argparse.Namespace) -> None:
    from dcgan.convert import convert

    release = convert(args.source, args.out, epoch=args.epoch)
    m = release.config.model
    print(
        f"{release.layout.name} model ({release.layout.about}; {m.size} px, z ~ "
        f"{release.config.z_dist} {m.nz}-d, {m.kernel}x{m.kernel} kernels, strides "
        f"{','.join(map(str, m.layer_strides))}) written to {args.out}"
    )


def cmd_dedup(args: argparse.Namespace) -> None:
    from dcgan.experiments.dedup import dedup

    config = build_dataclass(DedupConfig, args)
    r = dedup(
        args.source,
        args.out,
        config,
        model=args.model,
        clean_size=args.clean_size,
        format=args.format,
        key=args.key,
        split=args.split,
        workers=args.workers,
    )
    print(
        f"{r.count} images, {len(r.groups)} duplicate groups, {r.removed} to remove;"
        f" written to {r.out}"
    )


def cmd_faces(args: argparse.Namespace) -> None:
    from dcgan.experiments.faces import faces

    r = faces(
        args.source,
        args.out,
        build_dataclass(FacesConfig, args),
        out_format=args.out_format,
        format=args.format,
        key=args.key,
        split=args.split,
    )
    n = r.by_count
    print(
        f"{len(r.crops)} faces from {r.images} images (0: {n['0']}, 1: {n['1']},"
        f" many: {n['many']}) written to {r.out}"
    )


def _source_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="any source prepare reads: folder, tar, LMDB, npz, ...")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--format", help="source format (default: detected from the path)")
    p.add_argument("--key", help="array key in an npz")
    p.add_argument("--split", default="train", help="split to read (default: %(default)s)")


def cmd_evaluate(args: argparse.Namespace) -> None:
    import json

    from dcgan.io import atomic_write_text
    from dcgan.metrics.evaluate import evaluate, format_table

    extractor = args.extractor
    if args.train_extractor:
        from dcgan.metrics.train_extractor import train_extractor

        if not args.data:
            raise DcganError("--train-extractor needs --data LABELLED (a labelled source)")
        info = train_extractor(
            args.data, args.extractor_out, epochs=args.extractor_epochs, cache=args.cache
        )
        print(f"extractor written to {info['path']} (held-out accuracy {info['accuracy']:.4f})")
        extractor = info["path"]
        if args.checkpoint is None:
            return
    if args.checkpoint is None:
        raise DcganError("evaluate needs a checkpoint or run directory (or --train-extractor)")
    result = evaluate(
        args.checkpoint,
        data=args.data,
        metrics=args.metrics,
        n=args.n,
        extractor=extractor,
        inception_weights=args.inception_weights,
        ema=not args.no_ema,
        bn=args.bn,
        seed=args.seed,
        cache=args.cache,
        device=args.device,
    )
    print(format_table(result))
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
        print(f"\nJSON written to {args.json}")


def cmd_report(args: argparse.Namespace) -> None:
    from dcgan.report import write_report

    print(f"report written to {write_report(args.run_dir, n=args.n)}")


def _sample_flags(p: argparse.ArgumentParser, nargs: str | None = None) -> None:
    p.add_argument("checkpoint", nargs=nargs, help="checkpoint file or run directory")
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

    p = verbs.add_parser(
        "convert", help="the paper authors' released Theano models as a checkpoint"
    )
    p.add_argument("source", help="released model folder (*_gen_params.jl_NN.npy and D's)")
    p.add_argument("--out", required=True, help="checkpoint file to write (.pt)")
    p.add_argument("--epoch", type=int, help="which saved epoch, when the folder holds several")
    p.set_defaults(func=cmd_convert)

    p = verbs.add_parser("dedup", help="near-duplicate groups by a learned 128-bit hash (§3)")
    _source_flags(p)
    add_dataclass_args(p, DedupConfig)
    p.add_argument(
        "--model",
        help="a saved hash model (.pt) to reuse, or an earlier dedup --out: its model, and"
        " the new images are checked against its index",
    )
    p.add_argument("--clean-size", type=int, help="also pack the kept images at this size")
    p.add_argument("--workers", type=int, help="decoding processes (default: all cores)")
    p.set_defaults(func=cmd_dedup)

    p = verbs.add_parser("faces", help="OpenCV face crops as a training set (§3)")
    _source_flags(p)
    add_dataclass_args(p, FacesConfig)
    p.add_argument(
        "--out-format",
        choices=("packed", "folder"),
        default="packed",
        help="packed dataset or PNG folder (default: %(default)s)",
    )
    p.set_defaults(func=cmd_faces)
    p = verbs.add_parser("evaluate", help="sample-quality metrics: FID, KID, IS, precision/recall")
    _evaluate_flags(p)
    p.set_defaults(func=cmd_evaluate)

    p = verbs.add_parser("report", help="write report.html for a run (open it from disk)")
    p.add_argument("run_dir", help="run directory")
    p.add_argument("--n", type=int, default=64, help="final samples shown (default: %(default)s)")
    p.set_defaults(func=cmd_report)
    return top


def _evaluate_flags(p: argparse.ArgumentParser) -> None:
    _sample_flags(p, nargs="?")  # the checkpoint is optional with --train-extractor
    p.add_argument("--data", help="real images, any source (default: the run's training data)")
    p.add_argument("--metrics", default="fid,kid,is,pr", help="comma list (default: %(default)s)")
    p.add_argument(
        "--n", type=int, default=10000, help="samples and real images (default: %(default)s)"
    )
    p.add_argument(
        "--extractor",
        default="inception",
        help="inception (torch-fidelity's Inception-v3), mnist (the shipped MNIST classifier)"
        " or a classifier .pt from --train-extractor (default: %(default)s)",
    )
    p.add_argument(
        "--inception-weights", help="Inception-v3 weights file (default: torch's hub cache)"
    )
    p.add_argument("--seed", type=int, default=0, help="first sample seed (default: %(default)s)")
    p.add_argument("--json", help="also write the result as JSON to this file")
    p.add_argument("--cache", default=".cache/dcgan", help="prepared data and real statistics")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, ... (default: %(default)s)")
    p.add_argument(
        "--train-extractor",
        action="store_true",
        help="first train a classifier on --data (labelled) and evaluate with it",
    )
    p.add_argument(
        "--extractor-out",
        default="extractor.pt",
        help="where --train-extractor saves the classifier (default: %(default)s)",
    )
    p.add_argument(
        "--extractor-epochs", type=int, default=5, help="its training epochs (default: %(default)s)"
    )


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
