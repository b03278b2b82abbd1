"""Verbs of the core workflow: prepare, train, sample, convert."""

from __future__ import annotations

import argparse
from pathlib import Path

from dcgan.cli.args import add_dataclass_args, build_dataclass, sample_flags
from dcgan.config import TrainConfig


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
    from dcgan import distributed
    from dcgan.training import is_run_dir, train

    if args.nproc > 1 and not distributed.from_env().enabled:
        # A batch that does not split is one line here, not N ranks' failures; a resumed
        # run keeps its saved batch settings, which the ranks check themselves.
        if not (args.resume or is_run_dir(Path(args.out))):
            distributed.rank_batch(
                args.batch_size, distributed.Dist(0, args.nproc), args.batch_per_rank
            )
        return distributed.launch(args.nproc, distributed.strip_flag(args.argv, "--nproc"))
    result = train(build_dataclass(TrainConfig, args), resume=args.resume)
    if not distributed.from_env().is_main:
        return 130 if result.interrupted else 0
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
    images = sample(model, seeds=seeds, bn=args.bn, compile=args.compile)
    out = Path(args.out)
    if args.out.endswith(("/", "\\")) or out.is_dir() or not out.suffix:
        paths = save_each(images, seeds, out)
        print(f"{len(paths)} images written to {out}/")
    else:
        print(f"grid of {len(seeds)} samples written to {save_grid(images, out)}")


def cmd_convert(args: argparse.Namespace) -> None:
    from dcgan.convert import convert

    if Path(args.source).is_file():  # a pytorch/examples or tutorial .pth (dcgan.torch_examples)
        from dcgan.torch_examples import convert_examples

        got = convert_examples(args.source, args.out, d=args.d)
        m, nets = got.config.model, "G and D" if got.discriminator else "G only"
        print(
            f"pytorch-examples model ({nets}; {m.size} px, {m.channels} channels, ngf "
            f"{m.ngf}, z ~ normal {m.nz}-d) written to {args.out}"
        )
        return
    release = convert(args.source, args.out, epoch=args.epoch)
    m = release.config.model
    print(
        f"{release.layout.name} model ({release.layout.about}; {m.size} px, z ~ "
        f"{release.config.z_dist} {m.nz}-d, {m.kernel}x{m.kernel} kernels, strides "
        f"{','.join(map(str, m.layer_strides))}) written to {args.out}"
    )


def register(verbs: argparse._SubParsersAction) -> None:
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

    p = verbs.add_parser("train", help="train G and D (paper §4)")
    add_dataclass_args(p, TrainConfig)
    p.add_argument("--resume", help="run directory or checkpoint to continue exactly")
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="processes on this machine, launched by torchrun (DDP; default: %(default)s)",
    )
    p.set_defaults(func=cmd_train)

    p = verbs.add_parser("sample", help="write samples: a grid PNG or one PNG per seed")
    sample_flags(p)
    p.add_argument("--n", type=int, default=64, help="number of samples (default: %(default)s)")
    p.add_argument("--seeds", help="seeds such as 0-63 or 3,17,42 (default: 0..n-1)")
    p.add_argument("--compile", action="store_true", help="torch.compile G (for many samples)")
    p.add_argument(
        "--out",
        default="samples.png",
        help="grid .png, or a directory/ for one PNG per seed (default: %(default)s)",
    )
    p.set_defaults(func=cmd_sample)

    p = verbs.add_parser(
        "convert", help="released Theano or pytorch/examples models as a checkpoint"
    )
    p.add_argument("source", help="released model folder, or a pytorch/examples or tutorial .pth")
    p.add_argument("--out", required=True, help="checkpoint file to write (.pt)")
    p.add_argument("--epoch", type=int, help="which saved epoch, when the folder holds several")
    p.add_argument("--d", help="with a pytorch/examples G: its D's state dict (netD.pth)")
    p.set_defaults(func=cmd_convert)
