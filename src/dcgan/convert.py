"""`dcgan convert`: the paper authors' released Theano models as dcgan checkpoints.

A released model folder of Newmu/dcgan_code holds `<epoch>_gen_params.jl` and
`<epoch>_discrim_params.jl`, joblib indexes that only name the arrays, and the arrays as
`<epoch>_gen_params.jl_NN.npy`. Unpickling can run code, so the indexes are never
unpickled: the arrays are read with `numpy.load(allow_pickle=False)` in the order of their
numbers (an index is only scanned as bytes for the names it lists), and the architecture is
read from their shapes.

The authors' conventions (lib/ops.py, imagenet/load_pretrained.py,
svhn/svhn_semisup_analysis.py) and how they map onto ours:
- cuDNN convolutions in 'conv' mode: kernels are flipped against PyTorch's
  cross-correlation, so every kernel is flipped along both spatial axes. Their `deconv` is
  the gradient of such a conv, stored (in, out, k, k) like ConvTranspose2d's weight.
- the projection is `dot(z, w)` with w (nz, 16 C) and BatchNorm over its 16 C units before
  the reshape to (C, 4, 4): proj_norm="unit"; D's head is `sigmoid(dot(flatten(h), wy))`.
- their batchnorm divides by sqrt(biased batch variance + 1e-8), with scale and shift.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dcgan.checkpoint import FORMAT
from dcgan.config import ModelConfig, TrainConfig
from dcgan.errors import DcganError
from dcgan.io import atomic_write
from dcgan.models import Discriminator, Generator
from dcgan.options import configure
from dcgan.options_tools import ConvertConfig
from dcgan.sampling import with_bn_mode

THEANO_BN_EPS = 1e-8  # lib/ops.py: batchnorm(..., e=1e-8)
NPY = re.compile(r"^(?P<prefix>.+)_(?P<net>gen|discrim)_params\.jl_(?P<num>\d+)\.npy$")


@dataclass(frozen=True)
class Layout:
    """A released architecture: what the shapes cannot say (strides, padding, z prior)."""

    name: str
    layers: int
    kernel: int
    strides: tuple[int, ...]
    padding: int
    z_dist: str
    data: str
    about: str


LAYOUTS = (
    # D: svhn/svhn_semisup_analysis.py. G's script is not released; its shapes fit the 5x5,
    # stride-2, border-2 gen of faces/train_uncond_dcgan.py. The folder says "100z_gaussian".
    Layout("svhn", 3, 5, (2, 2, 2), 2, "normal", "svhn", "SVHN DCGAN of paper §5.2"),
    # imagenet/load_pretrained.py: deconv strides 2,1,2,1,2,1 and z ~ U[-1, 1]^256.
    Layout("imagenet32", 6, 3, (2, 1, 2, 1, 2, 1), 1, "uniform", "imagenet32", "§5.1"),
)


@dataclass
class Release:
    """A released model read into our modules (eval mode), with where it came from."""

    generator: Generator
    discriminator: Discriminator
    config: TrainConfig
    layout: Layout
    source: dict


def theano_kernel(w: np.ndarray) -> torch.Tensor:
    """A cuDNN 'conv'-mode kernel as the cross-correlation kernel PyTorch applies."""
    return torch.from_numpy(np.ascontiguousarray(w[..., ::-1, ::-1]))


def find_prefix(src: Path, epoch: int | None = None) -> str:
    """The file prefix (`200`) of the one released model in `src`, or of `epoch`."""
    if not src.is_dir():
        raise DcganError(f"model folder not found: {src}")
    prefixes = sorted(
        {m["prefix"] for p in src.iterdir() if (m := NPY.match(p.name))},
        key=lambda s: (len(s), s),
    )
    if epoch is not None:
        prefixes = [p for p in prefixes if p == str(epoch)]
    if not prefixes:
        which = f" for epoch {epoch}" if epoch is not None else ""
        raise DcganError(
            f"no released model{which} in {src}: expected *_gen_params.jl_NN.npy "
            "and *_discrim_params.jl_NN.npy"
        )
    if len(prefixes) > 1:
        raise DcganError(f"several models in {src} ({', '.join(prefixes)}): pick one with --epoch")
    return prefixes[0]


def read_arrays(src: Path, stem: str) -> list[np.ndarray]:
    """The arrays `<stem>.jl_01.npy`, `_02`, ... in order, as float32, never unpickling."""
    found = {
        int(m["num"]): p
        for p in src.iterdir()
        if (m := NPY.match(p.name)) and p.name.startswith(stem + ".")
    }
    listed: set[int] = set()
    index = src / f"{stem}.jl"
    if index.is_file():  # scanned as bytes for the names it lists, not unpickled
        names = re.findall(rb"\.jl_(\d+)\.npy", index.read_bytes())
        listed = {int(n) for n in names}
    expected = set(range(1, max([*found, *listed], default=0) + 1))
    if not found:
        raise DcganError(f"no {stem}.jl_NN.npy arrays in {src}")
    if missing := sorted(expected - set(found)):
        raise DcganError(
            f"missing {src / f'{stem}.jl_{missing[0]:02d}.npy'} ({len(missing)} absent)"
        )
    arrays = []
    for num in sorted(found):
        path = found[num]
        try:
            a = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DcganError(f"{path} is not a readable array ({first})") from None
        if not np.issubdtype(a.dtype, np.floating) or not np.isfinite(a).all():
            raise DcganError(f"{path} holds {a.dtype} values, not finite floats")
        arrays.append(a.astype(np.float32))
    return arrays


def _shapes(arrays: list[np.ndarray]) -> str:
    return " ".join("x".join(map(str, a.shape)) for a in arrays)


def _conv_layers(arrays: list[np.ndarray], net: str) -> tuple[list[tuple], list[np.ndarray]]:
    """Split [w, g, b, w, g, b, ..., rest] into (kernel, (g, b) or ()) per conv, and the rest."""
    layers, i = [], 0
    while i < len(arrays) and arrays[i].ndim == 4:
        w, out = arrays[i], arrays[i].shape[1 if net == "gen" else 0]
        bn = tuple(arrays[i + 1 : i + 3])
        if len(bn) == 2 and all(a.shape == (out,) for a in bn):
            layers.append((w, bn))
            i += 3
        else:
            layers.append((w, ()))
            i += 1
    return layers, arrays[i:]


def infer_config(gen: list[np.ndarray], dis: list[np.ndarray]) -> tuple[ModelConfig, Layout]:
    """The architecture the arrays' shapes spell, matched against the known layouts."""
    found = f"G arrays {_shapes(gen)}; D arrays {_shapes(dis)}"

    def bad(why: str) -> DcganError:
        return DcganError(f"unrecognised released model ({why}): {found}")

    if len(gen) < 4 or gen[0].ndim != 2 or gen[1].ndim != 1 or gen[1].shape != gen[2].shape:
        raise bad("G does not start with a projection and its batchnorm")
    nz, units = gen[0].shape
    g_layers, g_rest = _conv_layers(gen[3:], "gen")
    d_layers, d_rest = _conv_layers(dis, "discrim")
    if g_rest or not g_layers or g_layers[-1][1] or any(not bn for _, bn in g_layers[:-1]):
        raise bad("G's convs must all have a batchnorm but the last")
    if len(d_rest) != 1 or d_rest[0].ndim != 2 or d_rest[0].shape[1] != 1:
        raise bad("D must end with a (features, 1) head")
    if not d_layers or d_layers[0][1] or any(not bn for _, bn in d_layers[1:]):
        raise bad("D's convs must all have a batchnorm but the first")
    g_in = [w.shape[0] for w, _ in g_layers]
    g_out = [w.shape[1] for w, _ in g_layers]
    d_in = [w.shape[1] for w, _ in d_layers]
    d_out = [w.shape[0] for w, _ in d_layers]
    kernels = {w.shape[2:] for w, _ in g_layers + d_layers}
    if len(kernels) != 1 or len({*next(iter(kernels))}) != 1:
        raise bad(f"kernels must be square and all alike, got {sorted(kernels)}")
    kernel = next(iter(kernels))[0]
    base = g_in[0]
    proj_norm = {units: "unit", units // 16: "channel"}.get(gen[1].shape[0])
    if units != 16 * base or proj_norm is None:
        raise bad(f"G's projection to {units} units does not reshape to 4x4x{base}")
    if g_in[1:] != g_out[:-1] or d_in[1:] != d_out[:-1]:
        raise bad("a conv's input channels do not match the previous conv's output")
    channels = g_out[-1]
    if channels not in (1, 3) or d_in[0] != channels or d_rest[0].shape[0] != 16 * d_out[-1]:
        raise bad(f"G makes {channels} channels, D reads {d_in[0]}, D's head takes a 4x4 map")
    layout = next((k for k in LAYOUTS if (k.layers, k.kernel) == (len(g_layers), kernel)), None)
    if layout is None or len(d_layers) != len(g_layers):
        known = ", ".join(f"{k.name} ({k.layers} layers of {k.kernel}x{k.kernel})" for k in LAYOUTS)
        raise bad(
            f"{len(g_layers)} G and {len(d_layers)} D layers of {kernel}x{kernel}; known: {known}"
        )
    ngf, ndf = g_in[-1], d_out[0]
    widths = tuple(c // ngf for c in g_in)
    if [ngf * m for m in widths] != g_in or [ndf * m for m in reversed(widths)] != d_out:
        raise bad(f"G widths {g_in} and D widths {d_out} are not multiples that mirror each other")
    config = ModelConfig(
        size=4 * math.prod(layout.strides),
        channels=channels,
        nz=nz,
        ngf=ngf,
        ndf=ndf,
        kernel=kernel,
        padding=layout.padding,
        strides=layout.strides,
        widths=widths,
        proj_norm=proj_norm,
        bn_eps=THEANO_BN_EPS,
    )
    return config, layout


def _conv_params(layers: list[tuple]) -> dict[str, torch.Tensor]:
    """State-dict entries of `blocks`: each conv's kernel and its BatchNorm's scale and shift."""
    state = {}
    for i, (w, bn) in enumerate(layers):
        state[f"blocks.{i}.0.weight"] = theano_kernel(w)
        if bn:
            state[f"blocks.{i}.1.weight"], state[f"blocks.{i}.1.bias"] = map(torch.from_numpy, bn)
    return state


def _params(gen: list[np.ndarray], dis: list[np.ndarray]) -> tuple[dict, dict]:
    """State-dict entries of G and D (parameters only) from the arrays in their order."""
    g_state = {
        "project.weight": torch.from_numpy(gen[0].T.copy()),  # dot(z, w) is Linear with w.T
        "project_bn.weight": torch.from_numpy(gen[1]),
        "project_bn.bias": torch.from_numpy(gen[2]),
        **_conv_params(_conv_layers(gen[3:], "gen")[0]),
    }
    d_state = {
        **_conv_params(_conv_layers(dis[:-1], "discrim")[0]),
        "head.weight": torch.from_numpy(dis[-1].T.copy()),
    }
    return g_state, d_state


def _load_params(net: nn.Module, params: dict) -> None:
    """Copy `params` into `net`, checking every parameter is covered (buffers stay as built)."""
    names = {n for n, _ in net.named_parameters()}
    if set(params) != names:
        raise DcganError(f"converted parameters {sorted(set(params) ^ names)} do not fit the model")
    net.load_state_dict(params, strict=False)


def read_release(src: str | Path, epoch: int | None = None) -> Release:
    """Read a released model folder into G and D (eval mode), with its config and provenance."""
    src = Path(src)
    prefix = find_prefix(src, epoch)
    gen = read_arrays(src, f"{prefix}_gen_params")
    dis = read_arrays(src, f"{prefix}_discrim_params")
    model, layout = infer_config(gen, dis)
    config = TrainConfig(data=layout.data, model=model, z_dist=layout.z_dist)
    g_params, d_params = _params(gen, dis)
    g, d = Generator(model), Discriminator(model)
    _load_params(g, g_params)
    _load_params(d, d_params)
    files = sorted(p for p in src.iterdir() if p.name.startswith(f"{prefix}_") and p.is_file())
    source = {
        "converted_from": "Newmu/dcgan_code released Theano model",
        "layout": layout.name,
        "folder": str(src.resolve()),
        "epoch": int(prefix) if prefix.isdigit() else prefix,
        "sha256": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
    }
    return Release(g.eval(), d.eval(), config, layout, source)


def convert(
    src: str | Path, out: str | Path, config: ConvertConfig | None = None, **options: Any
) -> Release:
    """Convert the released model in `src` to a checkpoint at `out` that every verb can load;
    `options` are ConvertConfig's fields (epoch: which one, when `src` holds several)."""
    release = read_release(src, configure(ConvertConfig, config, options).epoch)
    # The authors kept no running statistics (they sample with the batch's): fill G's from the
    # same reference batch that `--bn batch` uses, so `--bn running` gives the same images.
    release.generator = with_bn_mode(release.generator, "batch", release.config.z_dist)
    state = {
        "format": FORMAT,
        "config": release.config.to_dict(),
        "step": 0,
        "epoch": 0.0,
        "G": release.generator.state_dict(),
        "D": release.discriminator.state_dict(),
        "G_ema": None,
        "source": release.source,
    }
    atomic_write(out, lambda f: torch.save(state, f))
    return release
