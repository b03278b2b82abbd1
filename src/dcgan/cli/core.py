"""Verbs of the core workflow: prepare, train, sample, convert."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from dcgan.cli.args import Checkpoint, add_verb, given_flags, png_out
from dcgan.config import SIZE, TrainConfig
from dcgan.errors import DcganError
from dcgan.options import count, opt
from dcgan.options_data import PrepareConfig
from dcgan.options_tools import ConvertConfig, SampleConfig


@dataclass
class PrepareArgs:
    source: str = opt(
        "", "folder, tar, LMDB, idx, CIFAR, SVHN .mat, npz/npy or a name", positional=True
    )
    out: str = opt("", "output directory of the packed dataset", positional=True)
    config: PrepareConfig = opt(factory=PrepareConfig)

    def __post_init__(self) -> None:
        # The API packs any side up to 4096 px; the command line keeps to what train takes.
        SIZE("--size", self.config.size)


@dataclass
class TrainArgs:
    config: TrainConfig
    resume: str | None = opt(None, "run directory or checkpoint to continue exactly")
    nproc: int = opt(1, "processes on this machine, launched by torchrun (DDP)", check=count(1024))
    argv: tuple[str, ...] = opt((), internal=True)  # the command line, for --nproc and --resume


@dataclass
class SampleArgs:
    model: Checkpoint
    config: SampleConfig
    seeds: str | None = opt(None, "seeds such as 0-63 or 3,17,42 (default: 0..n-1)")
    out: str = opt("samples.png", "grid .png, or a directory/ for one PNG per seed")
    force: bool = opt(False, "replace an --out of another kind (a checkpoint, say)")


@dataclass
class ConvertArgs:
    source: str = opt(
        "",
        "released model folder (*_gen_params.jl_NN.npy and D's), or a pytorch/examples or "
        "tutorial .pth",
        positional=True,
    )
    out: str = opt("", "checkpoint file to write (.pt)", required=True)
    config: ConvertConfig = opt(factory=ConvertConfig)


def cmd_prepare(a: PrepareArgs) -> None:
    from dcgan.data.prepare import prepare

    out = prepare(a.source, a.out, config=a.config)
    print(f"packed dataset written to {out}")


def cmd_train(a: TrainArgs) -> int:
    from dcgan import distributed
    from dcgan.resume import check, limits_text
    from dcgan.training import TrainingInterrupted, train

    c, given = a.config, given_flags(TrainConfig, a.argv)
    if a.nproc > 1 and not distributed.from_env().enabled:
        # Refusals are one line here, not N ranks' failures; a resumed run keeps its saved
        # batch settings, which the ranks check themselves.
        check(c, a.resume, given)
        if not a.resume:
            distributed.rank_batch(c.batch_size, distributed.Dist(0, a.nproc), c.batch_per_rank)
        return distributed.launch(a.nproc, distributed.strip_flag(list(a.argv), "--nproc"))
    try:
        result = train(c, resume=a.resume, given=given)
    except TrainingInterrupted as stopped:
        result = stopped.result
    if not distributed.from_env().is_main:
        return result.exit_code
    if result.interrupted:
        print(f"interrupted at step {result.step}; run directory: {result.run_dir}")
        print(f"resume with: dcgan train --resume {result.run_dir}")
    elif a.resume and not result.trained:
        from dcgan.checkpoint import run_config

        limits = limits_text(run_config(Path(result.run_dir))) or "the default limit"
        print(
            f"{result.run_dir} is already at its limit ({limits}) at step {result.step}:"
            " nothing to train; give a larger --steps, --epochs or --time-limit to go on"
        )
    else:
        print(f"finished at step {result.step}; run directory: {result.run_dir}")
    if result.alarms:
        names = ", ".join(dict.fromkeys(line.split()[1] for line in result.alarms))
        print(
            f"the watchdog raised {len(result.alarms)} alarm(s) ({names}):"
            f" see dcgan doctor {result.run_dir}"
        )
    return result.exit_code


def cmd_sample(a: SampleArgs) -> None:
    from dcgan.conventions import parse_seeds
    from dcgan.sampling import load, sample, save_each, save_grid

    out = png_out(a.out, grid=True)
    seeds = parse_seeds(a.seeds) if a.seeds else list(range(a.config.n))
    model = load(a.model.checkpoint, ema=not a.model.no_ema)
    images = sample(model, seeds, a.config, a.model.bn)
    if out.suffix.lower() == ".png":
        print(f"grid of {len(seeds)} samples written to {save_grid(images, out, force=a.force)}")
    else:
        paths = save_each(images, seeds, out)
        print(f"{len(paths)} images written to {out}/")


def cmd_convert(a: ConvertArgs) -> None:
    from dcgan.convert import convert

    if Path(a.out).suffix.lower() not in (".pt", ".pth"):
        raise DcganError(f"--out {a.out}: convert writes a checkpoint; name a .pt file")
    if Path(a.source).is_file():  # a pytorch/examples or tutorial .pth (dcgan.torch_examples)
        from dcgan.torch_examples import convert_examples

        got = convert_examples(a.source, a.out, a.config)
        m, nets = got.config.model, "G and D" if got.discriminator else "G only"
        print(
            f"pytorch-examples model ({nets}; {m.size} px, {m.channels} channels, ngf "
            f"{m.ngf}, z ~ normal {m.nz}-d) written to {a.out}"
        )
        return
    release = convert(a.source, a.out, a.config)
    m = release.config.model
    print(
        f"{release.layout.name} model ({release.layout.about}; {m.size} px, z ~ "
        f"{release.config.z_dist} {m.nz}-d, {m.kernel}x{m.kernel} kernels, strides "
        f"{','.join(map(str, m.layer_strides))}) written to {a.out}"
    )


def register(verbs: argparse._SubParsersAction) -> None:
    add_verb(verbs, "prepare", PrepareArgs, cmd_prepare, "pack a source into a uint8 array once")
    add_verb(verbs, "train", TrainArgs, cmd_train, "train G and D (paper §4)")
    add_verb(
        verbs, "sample", SampleArgs, cmd_sample, "write samples: a grid PNG or one PNG per seed"
    )
    add_verb(
        verbs,
        "convert",
        ConvertArgs,
        cmd_convert,
        "released Theano or pytorch/examples models as a checkpoint",
    )
