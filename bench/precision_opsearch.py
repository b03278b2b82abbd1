"""Which op carries bf16's difference from fp32 in a training step? No training: one step.

bench/precision_parity.py could not tell bf16 training from fp32 training apart from seed
noise, and bf16 failed its rule on held-out seeds. Under CPU autocast the losses take fp32
logits (`.float()` in dcgan.step) and Adam's state is fp32, so the candidates are the
bf16 matrix products (convolutions, deconvolutions, the two linear layers) and BatchNorm.
CPU autocast has no rule for `batch_norm`: it runs in its input's dtype, bf16 after a bf16
conv, with its statistics accumulated in fp32 (the bench checks this on the installed torch
first; `--probe` stops there); only its output and its backward are rounded to bf16.

For each dataset (the parity bench's config: 32 px, G and D 32 wide, batch 64) and two
states (`init`: the seed's initial weights and a fresh Adam; `trained`: after `--warmup`
fp32 steps of that config, Adam's state included), on `--batches` real batches, each with
its own z, every variant runs one `dcgan.step.train_step` (D's update, then G's through
the updated D) from the same weights, Adam state, batch and z. Against the fp32 step:
the relative error ||x - x_fp32|| / ||x_fp32|| of D's and G's gradients and of their
updates (weights after minus before), mean over batches. Variants:

- `bf16`: plain autocast, as `--precision bf16` trains;
- `bf16, X fp32`: autocast, with X run outside it on fp32 inputs (the ops after X up to
  the next conv then see fp32 and stay fp32; the next conv casts to bf16 again);
- `only X bf16`: no autocast, except X (its inputs rounded to bf16, its output cast back);
- `fp32 NCHW`: fp32 in the other memory format (the summation order alone: fp32's own floor);
- `fp32 next batch`: fp32 on the next batch and z (the minibatch noise SGD lives with).

The rule, fixed before any run: one op dominates when keeping it alone in fp32 removes at
least half of plain bf16's gradient error, of D or of G, in the `trained` state of both
datasets. If none does, no fp32 op is adopted in training.

    python bench/precision_opsearch.py [--datasets mnist,cifar] [--batches 4]
        [--warmup 300] [--seed 0] [--probe]
"""

from __future__ import annotations

import contextlib
import copy
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import torch
from harness import CACHE, SHARED, cpu_model, parse_args, print_table, write_results
from precision_parity import DATA
from torch import nn

from dcgan import ModelConfig, TrainConfig
from dcgan.conventions import sample_z, to_unit_range
from dcgan.options import opt
from dcgan.step import train_step
from dcgan.training import Trainer

BF16 = torch.bfloat16


@dataclass
class Args:
    """The command line (harness.parse_args)."""

    datasets: str = opt("mnist,cifar", "comma-separated: mnist, cifar")
    batches: int = opt(4, "real batches (each its own z) per state")
    warmup: int = opt(300, "fp32 training steps before the `trained` state")
    seed: int = opt(0, "the run's seed (a development seed of precision_parity)")
    width: int = opt(32, "ngf = ndf")
    batch_size: int = opt(64)
    probe: bool = opt(False, "only check what CPU autocast does with each op, then stop")
    name: str = opt("precision_opsearch", "results JSON name")


class Fp32(nn.Module):
    """`inner` outside autocast, on fp32 inputs (its output stays fp32)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return self.inner(x.float())


class Bf16(nn.Module):
    """`inner` alone in bf16 inside an fp32 step: autocast for it, its output back to fp32."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.inner, nn.modules.batchnorm._BatchNorm):  # no autocast rule
            return self.inner(x.to(BF16)).float()
        with torch.autocast(x.device.type, dtype=BF16):
            return self.inner(x).float()


def layers(g: nn.Module, d: nn.Module) -> dict[str, list[tuple[nn.Module, str]]]:
    """Named op groups: (parent module, attribute) of each module in the group."""
    out: dict[str, list[tuple[nn.Module, str]]] = {"G projection": [(g, "project")]}
    for i, block in enumerate(g.blocks):
        last = i == len(g.blocks) - 1
        out["G last deconv + tanh" if last else f"G deconv {i + 1}"] = (
            [(g.blocks, str(i))] if last else [(block, "0")]
        )
    for i, block in enumerate(d.blocks):
        name = "D first conv" if i == 0 else f"D conv {i + 1}"
        out["D last conv" if i == len(d.blocks) - 1 else name] = [(block, "0")]
    out["D head (logit)"] = [(d, "head")]
    bns = [(g, "project_bn")] + [(b, "1") for b in g.blocks[:-1]] + [(b, "1") for b in d.blocks[1:]]
    out["BatchNorm (G and D)"] = bns
    return out


# The groups kept in fp32 under autocast (the candidates), and those put alone in bf16.
REMOVE = (
    "BatchNorm (G and D)",
    "G projection",
    "G last deconv + tanh",
    "D first conv",
    "D last conv",
    "D head (logit)",
)


def wrapped(g: nn.Module, d: nn.Module, group: str | None, how: type) -> None:
    """Wrap every module of `group` (in place) in `how` (Fp32 or Bf16)."""
    if group is None:
        return
    for parent, attr in layers(g, d)[group]:
        parent.register_module(attr, how(getattr(parent, attr)))


def one_step(t: Trainer, real: torch.Tensor, z: torch.Tensor, variant: dict) -> dict:
    """One train_step of copies of the trainer's nets and optimizers, as `variant` says;
    returns D's and G's gradients and updates, flattened."""
    g, d = copy.deepcopy(t.g), copy.deepcopy(t.d)
    if variant.get("nchw"):
        g.to(memory_format=torch.contiguous_format)
        d.to(memory_format=torch.contiguous_format)
        real = real.contiguous()
    opt_g = torch.optim.Adam(g.parameters(), **_hyper(t.opt_g))
    opt_d = torch.optim.Adam(d.parameters(), **_hyper(t.opt_d))
    # A copy: load_state_dict keeps the given tensors, which the step then changes in place.
    opt_g.load_state_dict(copy.deepcopy(t.opt_g.state_dict()))
    opt_d.load_state_dict(copy.deepcopy(t.opt_d.state_dict()))
    wrapped(g, d, variant.get("fp32"), Fp32)
    wrapped(g, d, variant.get("alone"), Bf16)
    before = [p.detach().clone() for p in [*g.parameters(), *d.parameters()]]
    bf16 = variant.get("autocast", False)
    autocast = torch.autocast("cpu", dtype=BF16) if bf16 else contextlib.nullcontext()
    train_step(g, d, opt_g, opt_d, real, z, autocast)
    ng = len(list(g.parameters()))
    after = [p.detach() for p in [*g.parameters(), *d.parameters()]]
    flat = lambda ts: torch.cat([x.flatten().float() for x in ts])  # noqa: E731
    return {
        "grad_D": flat([p.grad for p in d.parameters()]),
        "grad_G": flat([p.grad for p in g.parameters()]),
        "update_D": flat([a - b for a, b in zip(after[ng:], before[ng:], strict=True)]),
        "update_G": flat([a - b for a, b in zip(after[:ng], before[:ng], strict=True)]),
    }


def _hyper(optimizer: torch.optim.Optimizer) -> dict:
    group = optimizer.param_groups[0]
    return {"lr": group["lr"], "betas": group["betas"]}


def variants() -> dict[str, dict]:
    out = {"bf16": {"autocast": True}}
    out |= {f"bf16, {x} fp32": {"autocast": True, "fp32": x} for x in REMOVE}
    return out


def alone_variants(names: list[str]) -> dict[str, dict]:
    return {f"only {x} bf16": {"alone": x} for x in names}


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def measure(t: Trainer, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> dict:
    """Per variant: the mean over batches of each relative error against fp32."""
    names = list(layers(t.g, t.d))
    runs: dict[str, dict] = {
        **variants(),
        **alone_variants(names),
        "fp32 NCHW": {"nchw": True},
    }
    errors: dict[str, dict[str, list[float]]] = {v: {} for v in [*runs, "fp32 next batch"]}
    for i, (real, z) in enumerate(batches):
        ref = one_step(t, real, z, {})
        if i + 1 < len(batches):  # the minibatch noise: the next batch, in fp32
            nxt = one_step(t, *batches[i + 1], {})
            for k in ref:
                errors["fp32 next batch"].setdefault(k, []).append(rel(nxt[k], ref[k]))
        for name, variant in runs.items():
            out = one_step(t, real, z, variant)
            for k in ref:
                errors[name].setdefault(k, []).append(rel(out[k], ref[k]))
    return {v: {k: statistics.fmean(xs) for k, xs in e.items()} for v, e in errors.items()}


def trainer(dataset: str, args: Args, steps: int, out: str) -> Trainer:
    file, channels = DATA[dataset]
    config = TrainConfig(
        data=str(SHARED / file),
        out=out,
        model=ModelConfig(size=32, channels=channels, ngf=args.width, ndf=args.width),
        batch_size=args.batch_size,
        steps=max(steps, 1),  # `init` builds the run and never steps
        seed=args.seed,
        precision="fp32",
        sample_every=10**6,
        checkpoint_every=10**6,
        progress=False,
        cache=str(CACHE),
    )
    t = Trainer(config)
    if steps:
        t.run()
    return t


def real_batches(t: Trainer, n: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        idx = torch.randint(len(t.data), (t.global_batch,), generator=gen).sort().values
        real = to_unit_range(t.data.get_batch(idx.numpy()))
        real = real.contiguous(memory_format=torch.channels_last)
        out.append((real, sample_z(t.global_batch, t.config.model.nz, "uniform", gen)))
    return out


def probe() -> dict[str, str]:
    """The dtype each op of the step gives under CPU autocast on fp32 and bf16 inputs."""
    x = torch.randn(64, 4, 8, 8)
    ops: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "conv2d": nn.Conv2d(4, 4, 3),
        "conv_transpose2d": nn.ConvTranspose2d(4, 4, 4, 2, 1),
        "linear": lambda v: nn.Linear(8, 2)(v),
        "batch_norm": nn.BatchNorm2d(4),
        "tanh": torch.tanh,
        "leaky_relu": nn.LeakyReLU(0.2),
        "bce_with_logits": lambda v: nn.functional.binary_cross_entropy_with_logits(v, v),
    }
    out = {}
    with torch.no_grad(), torch.autocast("cpu", dtype=BF16):
        for name, op in ops.items():
            dtypes = [
                str(op(x.to(dt)).dtype).removeprefix("torch.") for dt in (torch.float32, BF16)
            ]
            out[name] = f"fp32 in -> {dtypes[0]}, bf16 in -> {dtypes[1]}"
    # batch_norm's statistics: fp32 accumulation over bf16 inputs gives fp32 BN, rounded.
    bn = nn.BatchNorm2d(4)
    xb = (x * 3 + 5).to(BF16)
    with torch.no_grad():
        with torch.autocast("cpu", dtype=BF16):
            y = bn(xb).float()
        ref = nn.BatchNorm2d(4)(xb.float()).to(BF16).float()
    out["batch_norm statistics"] = (
        f"bf16 output vs fp32 BN of the same bf16 input, rounded: "
        f"{float((y != ref).float().mean()):.2%} of values differ, the largest by "
        f"{float(((y - ref).abs() / ref.abs().clamp_min(1e-3)).max()):.1e} (relative)"
    )
    return out


def main() -> None:
    args = parse_args(Args, __doc__)
    torch.set_num_threads(1)
    probed = probe()
    for k, v in probed.items():
        print(f"{k}: {v}")
    if args.probe:
        return
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    bad = [d for d in datasets if d not in DATA]
    if bad:
        raise SystemExit(f"unknown dataset {bad[0]!r}: use mnist or cifar")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in datasets:
            for state, steps in (("init", 0), ("trained", args.warmup)):
                t = trainer(dataset, args, steps, f"{tmp}/{dataset}-{state}")
                batches = real_batches(t, args.batches, 1000 + args.seed)
                results[f"{dataset}/{state}"] = measure(t, batches)
                print(f"{dataset}/{state}: done", flush=True)
    keys = ("grad_D", "grad_G", "update_D", "update_G")
    rows = [
        [where, v, *(f"{e[k]:.2e}" for k in keys)]
        for where, by in results.items()
        for v, e in by.items()
    ]
    print_table(["data/state", "variant", "D grad", "G grad", "D update", "G update"], rows)
    verdict = {}
    for x in REMOVE:  # the rule fixed before the runs (module docstring)
        halves = [
            results[f"{d}/trained"][f"bf16, {x} fp32"][k]
            <= 0.5 * results[f"{d}/trained"]["bf16"][k]
            for d in datasets
            for k in ("grad_D", "grad_G")
        ]
        n = len(datasets)
        verdict[x] = all(halves[i * 2] for i in range(n)) or all(
            halves[i * 2 + 1] for i in range(n)
        )
    dominant = [x for x, v in verdict.items() if v]
    print(
        f"dominant op (halves bf16's D or G gradient error on every dataset): {dominant or 'none'}"
    )
    result = {
        "config": {
            "size": 32,
            "width": args.width,
            "batch_size": args.batch_size,
            "batches": args.batches,
            "warmup_steps": args.warmup,
            "seed": args.seed,
            "rule": "an op dominates if keeping it alone in fp32 at least halves plain bf16's "
            "relative gradient error of D, or of G, in the trained state of every dataset",
        },
        "cpu": cpu_model(),
        "autocast_probe": probed,
        "relative_error_vs_fp32": results,
        "halves_error": verdict,
        "dominant": dominant,
    }
    print(f"written {write_results(args.name, result)}")


if __name__ == "__main__":
    main()
