"""What a resumed run continues with: one rule for the CLI and the Python API.

A run is continued as it was saved. Its architecture, recipe and data are fixed: a value
the caller sets that differs from the run's is refused, naming it. Its stopping rule
(steps, epochs, time limit) is kept, unless the caller sets one of the three: then the
caller's limits replace the run's as a whole. The watchdog's settings and the checkpoint
clock (--checkpoint-minutes) are kept too, each unless the caller sets it. How this session
runs (progress bar, device, cache of prepared data) is always the caller's. "Set" means a
flag typed on the command line, or, in Python, a field whose value differs from
TrainConfig's default.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dcgan.config import ModelConfig, TrainConfig
from dcgan.errors import DcganError

LIMITS = ("steps", "epochs", "time_limit")
# Always taken from the caller: how this session runs, not what the run is.
SESSION = ("progress", "device", "cache")
# Kept from the run unless the caller sets them, each on its own.
WATCHDOG = ("health_every", "on_alarm", "max_rollbacks")
KEPT_UNLESS_SET = (*WATCHDOG, "checkpoint_minutes")
RESUMABLE = frozenset((*LIMITS, *SESSION, *KEPT_UNLESS_SET))


def value(config: TrainConfig, name: str) -> object:
    """A field of `config` by its flat name (ModelConfig's fields included, as on the CLI)."""
    return getattr(config.model if name in _MODEL_FIELDS else config, name)


_MODEL_FIELDS = frozenset(f.name for f in dataclasses.fields(ModelConfig))
_DEFAULTS = TrainConfig()


def set_fields(config: TrainConfig) -> set[str]:
    """The flat names of the fields of `config` that differ from TrainConfig's defaults."""
    names = {f.name for f in dataclasses.fields(TrainConfig) if f.name != "model"}
    return {n for n in names | _MODEL_FIELDS if value(config, n) != value(_DEFAULTS, n)}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def merge(
    saved: TrainConfig, config: TrainConfig, given: set[str], new_run: bool, cli: bool = True
) -> TrainConfig:
    """The config a resumed run continues with: `saved` (the run's), with the caller's limits
    where `given` names one, and the caller's session fields. `new_run`: the checkpoint lies
    outside any run directory, so the caller's `out` is where the new run goes. `cli`: name
    fields in refusals as flags (else as the Python fields they are)."""
    fixed = given - RESUMABLE - ({"out"} if new_run else set())
    changed = [n for n in sorted(fixed) if value(saved, n) != value(config, n)]
    if changed:
        name = flag if cli else str
        asked = ", ".join(f"{name(n)} {value(config, n)}" for n in changed)
        had = ", ".join(str(value(saved, n)) for n in changed)
        allowed = ", ".join(name(n) for n in sorted(RESUMABLE))
        how = "--resume" if cli else "resume"
        raise DcganError(
            f"{asked}: cannot change on {how} (the run has {had}); only {allowed} may change"
        )
    merged = dataclasses.replace(saved, model=dataclasses.replace(saved.model))
    if given & set(LIMITS):  # the caller's stopping rule replaces the run's as a whole
        for name in LIMITS:
            setattr(merged, name, getattr(config, name))
    for name in SESSION:
        setattr(merged, name, getattr(config, name))
    for name in set(KEPT_UNLESS_SET) & given:
        setattr(merged, name, getattr(config, name))
    if new_run:
        merged.out = config.out
    return merged


def is_run_dir(path: Path) -> bool:
    return (path / "config.json").is_file()


def run_dir_of(resume: Path) -> Path | None:
    """The run directory a resume continues: the folder itself, or the run directory that
    holds the checkpoint file; None for a file outside any run (it starts a new run)."""
    if resume.is_dir():
        return resume
    return resume.parent if is_run_dir(resume.parent) else None


def read_saved(resume: Path) -> tuple[TrainConfig, dict | None]:
    """(the config a run directory or checkpoint file was saved with, the checkpoint); no
    checkpoint for a run stopped before its first one (it starts over from config.json)."""
    from dcgan.checkpoint import (
        checkpoint_config,
        find_checkpoint,
        has_checkpoint,
        load_checkpoint,
        run_config,
    )

    if resume.is_dir() and is_run_dir(resume) and not has_checkpoint(resume):
        return run_config(resume), None
    ckpt = load_checkpoint(resume)
    if ckpt.get("D") is None:
        raise DcganError(f"{resume} holds a generator only: training cannot resume from it")
    return checkpoint_config(ckpt["config"], find_checkpoint(resume)), ckpt


def check(config: TrainConfig, resume: str | Path | None, given: set[str]) -> None:
    """Refuse, before any work, what `Trainer` would refuse (for the CLI's launcher)."""
    if resume is None:
        refuse_run_dir_as_out(config.out)
        return
    resume = Path(resume)
    merge(read_saved(resume)[0], config, given, new_run=run_dir_of(resume) is None)


def refuse_run_dir_as_out(out: str | Path, cli: bool = True) -> None:
    """`out` names a run directory without a resume: refused, so a typo never continues (or
    writes into) the wrong run."""
    if is_run_dir(Path(out)):
        asked, how = (f"--out {out}", f"--resume {out}") if cli else (f"out {out}", "resume=")
        raise DcganError(
            f"{asked} is a run directory: continue it with {how}, or give its parent folder"
            " for a new run"
        )


def limits_text(config: TrainConfig) -> str:
    """The stopping rule as flags, e.g. `--steps 200 --time-limit 30`; '' for the default."""
    shown = []
    for name in LIMITS:
        v = getattr(config, name)
        if v:
            shown.append(f"{flag(name)} {v:g}" if isinstance(v, float) else f"{flag(name)} {v}")
    return " ".join(shown)


def open_run(
    config: TrainConfig, resume: str | Path | None, given: set[str], job, cli: bool
) -> tuple[TrainConfig, dict | None, Path | None]:
    """(config, checkpoint, run directory) a Trainer continues from; (config, None, None) for
    a new run. A checkpoint file outside any run directory starts a new run from it. `job`:
    the torchrun job (dcgan.distributed.Dist); rank 0 tidies the run directory first."""
    import warnings

    from dcgan import distributed
    from dcgan.checkpoint import clean_run_dir

    if resume is None:
        refuse_run_dir_as_out(config.out, cli)
        return config, None, None
    resume = Path(resume)
    run_dir = run_dir_of(resume)
    if run_dir is not None and job.is_main:
        clean_run_dir(run_dir)  # temp files of a killed run: removed, or promoted
    distributed.barrier(job)
    stored, ckpt = read_saved(resume)
    if ckpt is None:
        warnings.warn(
            f"{resume} was stopped before its first checkpoint: it starts again from step 0",
            stacklevel=3,
        )
    return merge(stored, config, given, run_dir is None, cli), ckpt, run_dir
