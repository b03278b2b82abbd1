"""The pytorch/examples (dcgan/main.py) and PyTorch DCGAN tutorial checkpoints, both ways.

Their G is one `nn.Sequential` named `main`: ConvTranspose2d(nz, 2^(n-1) ngf, 4, 1, 0) on z
shaped (N, nz, 1, 1), then ConvTranspose2d(4, 2, 1) layers halving the channels, each but
the last followed by BatchNorm2d and ReLU, and Tanh. Their D mirrors it with Conv2d(4, 2, 1),
LeakyReLU(0.2) and BatchNorm2d (none after the first conv), then Conv2d(C, 1, 4, 1, 0) and a
Sigmoid. No layer has a bias. How that maps onto ours (dcgan.models):
- the first ConvTranspose2d sees a 1x1 input, so output[c, i, j] = sum_k z[k] W[k, c, i, j]:
  it is our projection Linear(nz, 16 C) with weight W.reshape(nz, 16 C).T, reshaped to
  (C, 4, 4), and its BatchNorm2d is our per-channel `project_bn`;
- the other ConvTranspose2d(4, 2, 1) are our blocks (kernel 4, padding 1, stride 2);
- D's last Conv2d on the 4x4 map is our head Linear(16 C, 1) on the flattened map; our D
  returns the logit, theirs its sigmoid.

Files are read with `torch.load(weights_only=True)` (no code from a file ever runs), on the
CPU whatever device saved them, with DataParallel's `module.` prefixes dropped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dcgan.checkpoint import FORMAT, read_weights
from dcgan.config import ModelConfig, TrainConfig
from dcgan.errors import DcganError
from dcgan.io import atomic_write
from dcgan.models import Discriminator, Generator
from dcgan.options import configure
from dcgan.options_tools import ConvertConfig
from dcgan.sampling import check_finite

KEY = re.compile(r"^(?:module\.)*(?:(?P<seq>[A-Za-z_]\w*)\.)?(?P<index>\d+)\.(?P<param>\w+)$")
TUTORIAL_KEYS = ("netG_state_dict", "netD_state_dict")
NAME = "pytorch-examples"


@dataclass
class Layer:
    """One conv of a Sequential, with the BatchNorm that follows it (if any)."""

    weight: torch.Tensor
    bn: dict[str, torch.Tensor] | None


@dataclass
class Imported:
    """A pytorch/examples G (and D, when given) read into our modules (eval mode)."""

    generator: Generator
    discriminator: Discriminator | None
    config: TrainConfig
    source: dict


def layers(state: dict, what: str) -> list[Layer]:
    """The convs of a Sequential's state dict in order, each with its BatchNorm's entries."""
    modules: dict[int, dict[str, torch.Tensor]] = {}
    seqs = set()
    for key, value in state.items():
        m = KEY.match(key) if isinstance(key, str) else None
        if m is None or not isinstance(value, torch.Tensor):
            raise DcganError(f"{what}: {key!r} is not an entry of a pytorch/examples Sequential")
        seqs.add(m["seq"])
        modules.setdefault(int(m["index"]), {})[m["param"]] = value.float()
    if len(seqs) > 1:
        raise DcganError(f"{what}: entries of several modules ({', '.join(map(str, seqs))})")
    out: list[Layer] = []
    for index in sorted(modules):
        params = modules[index]
        if "bias" in params and "running_mean" not in params:
            raise DcganError(f"{what}: layer {index} has a bias (the DCGAN layers have none)")
        if "running_mean" in params:
            if not out or out[-1].bn is not None:
                raise DcganError(f"{what}: BatchNorm at layer {index} follows no conv")
            out[-1].bn = params
        elif params.get("weight") is not None and params["weight"].ndim == 4:
            out.append(Layer(params["weight"], None))
        else:
            raise DcganError(f"{what}: layer {index} is neither a conv nor a BatchNorm")
    return out


def _bad(what: str, why: str, found: list[Layer]) -> DcganError:
    shapes = " ".join("x".join(map(str, x.weight.shape)) + ("+bn" if x.bn else "") for x in found)
    return DcganError(f"{what} is not a pytorch/examples DCGAN ({why}): {shapes}")


def infer_config(g: list[Layer], d: list[Layer] | None, what: str) -> ModelConfig:
    """Size, width, channels and nz from G's shapes (and ndf from D's, checked against G)."""
    if len(g) < 3 or any(x.bn is None for x in g[:-1]) or g[-1].bn is not None:
        raise _bad(what, "G needs 3+ transposed convs, each but the last with a BatchNorm", g)
    if any(tuple(x.weight.shape[2:]) != (4, 4) for x in g):
        raise _bad(what, "every kernel must be 4x4", g)
    ins = [x.weight.shape[0] for x in g]
    outs = [x.weight.shape[1] for x in g]
    if ins[1:] != outs[:-1]:
        raise _bad(what, "a layer's input channels differ from the previous layer's output", g)
    nz, channels, ngf = ins[0], outs[-1], ins[-1]
    if channels not in (1, 3):
        raise _bad(what, f"G makes {channels} channels, not 1 or 3", g)
    stages = len(g) - 1
    if any(c % ngf for c in outs[:-1]):
        raise _bad(what, f"G's widths {outs[:-1]} are not multiples of its last ({ngf})", g)
    widths = tuple(c // ngf for c in outs[:-1])
    default = tuple(2 ** (stages - 1 - i) for i in range(stages))
    ndf = ngf
    if d is not None:
        dw = [x.weight.shape[0] for x in d[:-1]]
        if (
            len(d) != len(g)
            or d[0].bn is not None
            or any(x.bn is None for x in d[1:-1])
            or d[-1].bn is not None
            or tuple(d[-1].weight.shape) != (1, dw[-1], 4, 4)
            or d[0].weight.shape[1] != channels
            or any(tuple(x.weight.shape[2:]) != (4, 4) for x in d)
        ):
            raise _bad(f"{what} (D)", f"D must mirror G's {len(g)} convs on {channels} channels", d)
        ndf = dw[0]
        if [ndf * w for w in reversed(widths)] != dw:
            raise _bad(f"{what} (D)", f"D's widths do not mirror G's {outs[:-1]}", d)
    return ModelConfig(
        size=4 * 2**stages,
        channels=channels,
        nz=nz,
        ngf=ngf,
        ndf=ndf,
        widths=None if widths == default else widths,
    )


def _bn(prefix: str, bn: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.long() if k == "num_batches_tracked" else v for k, v in bn.items()}


def g_state(g: list[Layer], base: int) -> dict[str, torch.Tensor]:
    """Our Generator's state dict from their G's convs."""
    nz = g[0].weight.shape[0]
    state = {"project.weight": g[0].weight.reshape(nz, 16 * base).T.contiguous()}
    state.update(_bn("project_bn", g[0].bn))
    for i, x in enumerate(g[1:]):
        state[f"blocks.{i}.0.weight"] = x.weight
        if x.bn is not None:
            state.update(_bn(f"blocks.{i}.1", x.bn))
    return state


def d_state(d: list[Layer]) -> dict[str, torch.Tensor]:
    """Our Discriminator's state dict from their D's convs."""
    state = {"head.weight": d[-1].weight.reshape(1, -1)}
    for i, x in enumerate(d[:-1]):
        state[f"blocks.{i}.0.weight"] = x.weight
        if x.bn is not None:
            state.update(_bn(f"blocks.{i}.1", x.bn))
    return state


def _load_into(net: nn.Module, state: dict, what: str) -> None:
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise DcganError(f"{what}: weights do not fit the inferred model ({first})") from None


def _state_dicts(path: Path, d_path: Path | None) -> tuple[dict, dict | None]:
    """G's and D's state dicts from a bare state dict or the tutorial's dict, plus `--d`."""
    data = read_weights(path)
    if not isinstance(data, dict):
        raise DcganError(f"{path} holds {type(data).__name__}, not a state dict")
    if any(k in data for k in TUTORIAL_KEYS):
        if "netG_state_dict" not in data:
            raise DcganError(f"{path} has no netG_state_dict: give the generator's file")
        g, d = data["netG_state_dict"], data.get("netD_state_dict")  # optimizers are ignored
        if d is not None and d_path is not None:
            raise DcganError(f"{path} holds a netD_state_dict already: leave out --d")
    else:
        g, d = data, None
    if d_path is not None:
        d = read_weights(d_path)
    for name, s in (("G", g), ("D", d)):
        if s is not None and not isinstance(s, dict):
            raise DcganError(f"{path}: {name} is {type(s).__name__}, not a state dict")
    return g, d


def read_examples(path: str | Path, d_path: str | Path | None = None) -> Imported:
    """Read a pytorch/examples or tutorial checkpoint (and D from `d_path`) into our modules."""
    path = Path(path)
    d_path = Path(d_path) if d_path is not None else None
    for p in (path, d_path):
        if p is not None and not p.is_file():
            raise DcganError(f"checkpoint not found: {p}")
    g_raw, d_raw = _state_dicts(path, d_path)
    g_layers = layers(g_raw, str(path))
    d_layers = layers(d_raw, str(d_path or path)) if d_raw is not None else None
    if g_layers and g_layers[0].bn is None and len(g_layers) > 1 and g_layers[1].bn is not None:
        raise DcganError(f"{path} is a discriminator: give the generator, and D with --d")
    model = infer_config(g_layers, d_layers, str(path))
    config = TrainConfig(data=NAME, model=model, z_dist="normal")
    g = Generator(model)
    _load_into(g, g_state(g_layers, g.base_channels), str(path))
    check_finite(g.state_dict(), f"{path}: its G")
    d = None
    if d_layers is not None:
        d = Discriminator(model)
        _load_into(d, d_state(d_layers), str(d_path or path))
        check_finite(d.state_dict(), f"{d_path or path}: its D")
        d.eval()
    files = [p for p in (path, d_path) if p is not None]
    source = {
        "converted_from": "pytorch/examples or PyTorch tutorial DCGAN checkpoint",
        "layout": NAME,
        "files": [str(p.resolve()) for p in files],
        "sha256": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
    }
    return Imported(g.eval(), d, config, source)


def convert_examples(
    src: str | Path, out: str | Path, config: ConvertConfig | None = None, **options: Any
) -> Imported:
    """Write the pytorch/examples checkpoint `src` as a dcgan checkpoint `out`; `options` are
    ConvertConfig's fields (d: the state dict of its D). Their BatchNorm running statistics
    are kept, so `--bn running` gives their eval images."""
    imported = read_examples(src, configure(ConvertConfig, config, options).d)
    state = {
        "format": FORMAT,
        "config": imported.config.to_dict(),
        "step": 0,
        "epoch": 0.0,
        "G": imported.generator.state_dict(),
        "D": imported.discriminator.state_dict() if imported.discriminator else None,
        "G_ema": None,
        "source": imported.source,
    }
    atomic_write(out, lambda f: torch.save(state, f))
    return imported


# The other direction: our G as their G ---------------------------------------------------


def check_exportable(config: ModelConfig) -> None:
    """Their architecture: 4x4 kernels, padding 1, stride 2, per-channel projection BN."""
    c = config
    layout = (c.kernel, c.pad, set(c.layer_strides), c.proj_norm, c.bn_eps)
    if layout != (4, 1, {2}, "channel", 1e-5):
        raise DcganError(
            "only models of the pytorch/examples layout export to it (4x4 kernels, padding 1, "
            "stride 2, per-channel projection BatchNorm, eps 1e-5); this one has "
            f"{c.kernel}x{c.kernel}, padding {c.pad}, strides {c.layer_strides}, projection "
            f"norm '{c.proj_norm}', eps {c.bn_eps:g}"
        )


def examples_g_state(g: Generator) -> dict[str, torch.Tensor]:
    """G's state dict under their names (`main.0.weight`, ...), loadable with strict keys into
    the tutorial's Generator of the same nz, ngf and nc."""
    check_exportable(g.config)
    sd = {k: v.detach().cpu().clone() for k, v in g.state_dict().items()}
    nz, base = g.config.nz, g.base_channels
    out = {"main.0.weight": sd["project.weight"].T.reshape(nz, base, 4, 4).contiguous()}
    out.update({f"main.1.{k[11:]}": v for k, v in sd.items() if k.startswith("project_bn.")})
    for i in range(len(g.blocks)):
        conv, bn = 3 * (i + 1), 3 * (i + 1) + 1
        out[f"main.{conv}.weight"] = sd[f"blocks.{i}.0.weight"]
        out.update(
            {
                f"main.{bn}.{k.split('.')[-1]}": v
                for k, v in sd.items()
                if k.startswith(f"blocks.{i}.1.")
            }
        )
    return out


def examples_generator(config: ModelConfig) -> nn.Sequential:
    """Their G as a bare Sequential (the tutorial's `main`), for checking an export."""
    widths = [config.ngf * m for m in config.layer_widths]
    mods: list[nn.Module] = [nn.ConvTranspose2d(config.nz, widths[0], 4, 1, 0, bias=False)]
    for cin, cout in zip(widths, [*widths[1:], config.channels], strict=True):
        mods += [nn.BatchNorm2d(cin), nn.ReLU(True)]
        mods.append(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False))
    return nn.Sequential(*mods, nn.Tanh())
