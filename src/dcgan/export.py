"""`dcgan export`: the generator alone, for use outside this package.

Formats: safetensors (weights + config, loads back into `Generator` without pickle), ONNX
(dynamic batch axis, checked with onnxruntime), TorchScript (a traced module),
pytorch-examples (a bare state dict for the PyTorch tutorial's `Generator`, no metadata) and
package (a folder with G, D, config.json and a model card; dcgan.package), which every verb
reads back, and site (the explorer as a static site running the ONNX export in the browser;
dcgan.explore.site).

BatchNorm is frozen at export (a package keeps the model as it is): G is put in the
sampling mode chosen (`batch` by default, the statistics of the fixed reference batch of
`dcgan.sampling`) and those statistics are stored as its running averages, so the exported
graph is a pure function of z: one seed gives one image, the same image `dcgan sample`
gives, whatever else is in the batch.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dcgan.checkpoint import read_weights
from dcgan.config import ModelConfig
from dcgan.conventions import z_from_seeds
from dcgan.errors import DcganError
from dcgan.extras import require
from dcgan.io import check_overwrite, write_output
from dcgan.models import Generator
from dcgan.options import configure
from dcgan.options_tools import ExportConfig, export_format
from dcgan.sampling import Loaded, check_finite, generate, load, sample, with_bn_mode
from dcgan.torch_examples import examples_g_state, examples_generator, infer_config, layers

FORMATS = ("safetensors", "onnx", "torchscript", "pytorch-examples", "package", "site")
NEEDS = {"safetensors": ("safetensors",), "onnx": ("onnx", "onnxscript", "onnxruntime")}
META_KEY = "dcgan"  # the one metadata entry every format carries (a JSON string)
CHECK_SEEDS = list(range(8))
TOLERANCE = 1e-4


@dataclass
class Exported:
    """What `export` wrote and how far the file's images are from PyTorch's."""

    path: Path
    format: str
    metadata: dict[str, Any]
    max_abs_diff: float


def metadata(model: Loaded, bn: str, ema: bool) -> dict[str, Any]:
    """The config and provenance stored beside the weights."""
    return {
        "format": "dcgan-generator",
        "model": model.config.to_dict()["model"],
        "z_dist": model.config.z_dist,
        "bn": bn,
        "ema": ema,
        "step": model.step,
        "input": "z: float32 (batch, nz)",
        "output": "images: float32 (batch, channels, size, size) in [-1, 1]",
    }


def frozen_generator(checkpoint: str | Path, bn: str = "batch", ema: bool = True):
    """G (its EMA when kept) in eval mode with the chosen BatchNorm statistics as buffers,
    and its metadata."""
    model = load(checkpoint, ema=ema)
    g = with_bn_mode(model.generator, bn, model.config.z_dist)
    return g, metadata(model, bn, model.ema)


def export(
    checkpoint: str | Path,
    out: str | Path,
    config: ExportConfig | None = None,
    bn: str = "batch",
    ema: bool = True,
    **options: Any,
) -> Exported:
    """Write G of `checkpoint` to `out` in `format` (default: from out's extension), then
    load the file back and compare its images with PyTorch's on a few seeds. An existing
    `out` of another kind (a checkpoint above all) is replaced only with `force`. `options`
    are ExportConfig's fields."""
    c = configure(ExportConfig, config, options)
    format = export_format(str(out), c.format)
    if format == "package":
        return _export_package(checkpoint, out, c, bn, ema)
    if format == "site":
        return _export_site(checkpoint, out, c, bn, ema)
    out = check_overwrite(out, format, c.force)
    for module in NEEDS.get(format, ()):  # the `export` extra (TorchScript needs only torch)
        require("export", module)
    g, meta = frozen_generator(checkpoint, bn, ema)
    WRITERS[format](g, meta, out)
    z = z_from_seeds(CHECK_SEEDS, g.config.nz, meta["z_dist"])
    expected = generate(g, z, bn="running")
    got = RUNNERS[format](out, z)
    diff = float((torch.as_tensor(got) - expected).abs().max())
    if not diff < TOLERANCE:
        out.unlink()
        raise DcganError(f"{out}: exported images differ from PyTorch's by {diff:.2e}")
    return Exported(out, format, meta, diff)


# package ---------------------------------------------------------------------------------


def _export_package(
    checkpoint: str | Path, out: str | Path, config: ExportConfig, bn: str, ema: bool
) -> Exported:
    """A package folder (dcgan.package), then its images compared with the checkpoint's:
    BatchNorm is not frozen there, and the same tensors must give the same images."""
    from dcgan.package import CONFIG
    from dcgan.pretrained import save_pretrained

    model = load(checkpoint, ema=ema)
    out = save_pretrained(model, out, config, bn=bn)
    expected = sample(model, CHECK_SEEDS, bn=bn)
    diff = float((sample(load(out), CHECK_SEEDS, bn=bn) - expected).abs().max())
    if diff != 0.0:
        raise DcganError(f"{out}: the package's images differ from the checkpoint's by {diff:.2e}")
    return Exported(out, "package", json.loads((out / CONFIG).read_text()), diff)


# site ------------------------------------------------------------------------------------


def _export_site(
    checkpoint: str | Path, out: str | Path, config: ExportConfig, bn: str, ema: bool
) -> Exported:
    """The explorer as a static site (dcgan.explore.site) around G's ONNX export."""
    from dcgan.explore import site

    out = site.check_out(out)  # refused before anything is exported
    ort = site.ort_web(config.ort_web, config.cache) if config.offline else {}
    with tempfile.TemporaryDirectory(prefix="dcgan-site-") as tmp:
        onnx = export(checkpoint, Path(tmp) / "model.onnx", ExportConfig(format="onnx"), bn, ema)
        name = Path(checkpoint).name
        site.write_site(out, config, name, onnx.metadata, Path(tmp) / "model.onnx", ort)
    meta = {**onnx.metadata, "seeds": config.site_seeds, "offline": config.offline}
    return Exported(out, "site", meta, onnx.max_abs_diff)


# safetensors -----------------------------------------------------------------------------


def _write_safetensors(g: Generator, meta: dict, out: Path) -> None:
    save = require("export", "safetensors.torch").save
    state = {k: v.detach().contiguous() for k, v in g.state_dict().items()}
    data = save(state, metadata={META_KEY: json.dumps(meta)})
    write_output(out, lambda f: f.write(data))


def load_safetensors(path: str | Path) -> tuple[Generator, dict[str, Any]]:
    """A `Generator` (eval mode, frozen BatchNorm) and its metadata from an exported
    .safetensors file; nothing is unpickled."""
    safetensors = require("export", "safetensors")
    SafetensorError, safe_open = safetensors.SafetensorError, safetensors.safe_open
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})[META_KEY])
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
    except FileNotFoundError:
        raise DcganError(f"file not found: {path}") from None
    except (SafetensorError, OSError, KeyError, ValueError, TypeError) as e:
        raise DcganError(f"{path} is not a dcgan safetensors export ({e})") from None
    check_finite(state, f"{path}: its")
    try:
        g = Generator(ModelConfig(**meta["model"]))
        g.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0]
        raise DcganError(f"{path}: weights do not match the stored config ({first})") from None
    return g.eval(), meta


def _run_safetensors(path: Path, z: torch.Tensor) -> torch.Tensor:
    g, _ = load_safetensors(path)
    return generate(g, z, bn="running")


# ONNX ------------------------------------------------------------------------------------


def _write_onnx(g: Generator, meta: dict, out: Path) -> None:
    z = torch.zeros(2, g.config.nz)
    batch = torch.export.Dim("batch", min=1, max=65536)
    program = torch.onnx.export(
        g,
        (z,),
        input_names=["z"],
        output_names=["images"],
        dynamic_shapes={"z": {0: batch}},
        dynamo=True,
        verbose=False,
    )
    model = program.model_proto
    entry = model.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(meta)
    write_output(out, lambda f: f.write(model.SerializeToString()))


def onnx_metadata(path: str | Path) -> dict[str, Any]:
    model = require("export", "onnx").load(str(path), load_external_data=False)
    return json.loads({p.key: p.value for p in model.metadata_props}[META_KEY])


def _run_onnx(path: Path, z: torch.Tensor) -> np.ndarray:
    onnxruntime = require("export", "onnxruntime")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["images"], {"z": z.numpy().astype(np.float32)})[0]


# TorchScript -----------------------------------------------------------------------------


def _write_torchscript(g: Generator, meta: dict, out: Path) -> None:
    buffer = io.BytesIO()
    with torch.no_grad(), _quiet_jit():
        traced = torch.jit.trace(g, torch.zeros(2, g.config.nz))
        torch.jit.save(traced, buffer, _extra_files={f"{META_KEY}.json": json.dumps(meta)})
    write_output(out, lambda f: f.write(buffer.getvalue()))


@contextlib.contextmanager
def _quiet_jit() -> Iterator[None]:
    """torch.jit warns that it is deprecated (for torch.export), but it is TorchScript."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def load_torchscript(path: str | Path) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    """The traced generator and its metadata."""
    extra = {f"{META_KEY}.json": ""}
    with _quiet_jit():
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return module.eval(), json.loads(extra[f"{META_KEY}.json"])


def _run_torchscript(path: Path, z: torch.Tensor) -> torch.Tensor:
    module, _ = load_torchscript(path)
    with torch.no_grad():
        return module(z)


# pytorch-examples -----------------------------------------------------------------------


def _write_examples(g: Generator, meta: dict, out: Path) -> None:
    state = examples_g_state(g)  # refuses other layouts before anything is written
    buffer = io.BytesIO()  # serialised first: a failing disk then raises OSError, not torch's
    torch.save(state, buffer)
    write_output(out, lambda f: f.write(buffer.getvalue()))


def _run_examples(path: Path, z: torch.Tensor) -> torch.Tensor:
    """The file loaded, strict keys, into their G (rebuilt from the shapes), in eval mode."""
    state = read_weights(path)
    net = examples_generator(infer_config(layers(state, str(path)), None, str(path)))
    net.load_state_dict({k.removeprefix("main."): v for k, v in state.items()})
    with torch.no_grad():
        return net.eval()(z.view(len(z), -1, 1, 1))


WRITERS = {
    "safetensors": _write_safetensors,
    "onnx": _write_onnx,
    "torchscript": _write_torchscript,
    "pytorch-examples": _write_examples,
}
RUNNERS = {
    "safetensors": _run_safetensors,
    "onnx": _run_onnx,
    "torchscript": _run_torchscript,
    "pytorch-examples": _run_examples,
}
