"""`dcgan export --out-format site`: the explorer as a static site, for any static host.

The page is the served explorer's (index.html, explore.js) with `site.js` answering its
requests in the browser: G runs from its ONNX export (BatchNorm frozen) with
onnxruntime-web's wasm build. `dcgan.export.export(format="site")` exports G and calls
`write_site`. The folder holds:

- index.html, explore.js, site.js: the page;
- model.onnx: G, its images checked against PyTorch's by dcgan.export;
- z.bin: the z of seeds 0..N-1 as float32 (N, nz), row s for seed s. Seeds are torch's
  generator (`z_from_seeds`), which JavaScript does not reproduce: the table makes seed s
  the image of `dcgan sample --seeds s`;
- site.json: the model's description, the arithmetic's neighbour offsets (as
  `latent.neighbors` draws them), the named directions, where onnxruntime-web comes from;
- with `offline`, ort/: onnxruntime-web's two files; otherwise the page loads them from a
  pinned jsDelivr URL, both checked by their sha384 (subresource integrity).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import torch

from dcgan.conventions import z_from_seeds
from dcgan.errors import DcganError
from dcgan.experiments.latent import neighbors
from dcgan.experiments.options import ARITHMETIC_NEIGHBORS, ARITHMETIC_NOISE
from dcgan.explore import requests as rq
from dcgan.explore.directions import load_direction
from dcgan.explore.server import static_file
from dcgan.io import atomic_write, atomic_write_text, check_not_special, new_folder, output_path
from dcgan.options_tools import ExportConfig

ORT_VERSION = "1.31.1"
ORT_CDN = f"https://cdn.jsdelivr.net/npm/onnxruntime-web@{ORT_VERSION}/dist/"
ORT_JS = "ort.wasm.bundle.min.mjs"  # the wasm build as one ES module (its loader inside)
ORT_WASM = "ort-wasm-simd-threaded.wasm"
# sha384 of the two files in `npm pack onnxruntime-web@1.31.1` (jsDelivr serves them as is).
ORT_FILES = {
    ORT_JS: "sha384-6BIdAwCg9wGA2hDYLN3zCVAyr+OTK4s2qFUOqXyyOMHOmbTE+W9CyVIpApOKhHN8",
    ORT_WASM: "sha384-bQJgW/bZhNOlc9KU45Zu0dyd0EFfNpkOZjfHyH/90dkZQSBBGkFTsAJaabSyYA4Z",
}
SITE = "site.json"
PAGE = ("explore.js", "site.js")  # copied as they are; index.html gets the import map


def write_site(
    out: Path,
    config: ExportConfig,
    name: str,
    meta: dict[str, Any],
    onnx: Path,
    ort: dict[str, bytes],
) -> Path:
    """Write the site folder `out` (checked by `check_out`) around G's ONNX export `onnx`
    and its metadata `meta`; `ort`: onnxruntime-web's files for an offline site, else {}.
    dcgan.export.export(format="site") calls it."""
    nz = meta["model"]["nz"]
    directions = dict(load_direction(p, nz) for p in config.directions)
    z = z_from_seeds(list(range(config.site_seeds)), nz, meta["z_dist"])
    about = describe(name, meta, config.site_seeds, directions)
    base = "./ort/" if ort else ORT_CDN
    about["ort"] = {
        "version": ORT_VERSION,
        "wasm": base + ORT_WASM,
        "integrity": ORT_FILES[ORT_WASM],
    }
    with new_folder(out) as tmp:
        shutil.copyfile(onnx, tmp / "model.onnx")
        atomic_write(tmp / "z.bin", lambda f: f.write(z.numpy().astype("<f4").tobytes()))
        atomic_write_text(tmp / SITE, json.dumps(about) + "\n")
        atomic_write_text(tmp / "index.html", page(base + ORT_JS))
        for file in PAGE:
            atomic_write(tmp / file, lambda f, n=file: f.write(static_file(n)))
        for file, data in ort.items():
            atomic_write(tmp / "ort" / file, lambda f, d=data: f.write(d))
    return out


def describe(
    name: str, meta: dict[str, Any], seeds: int, directions: dict[str, list[float]]
) -> dict[str, Any]:
    """site.json less `ort`: what the served explorer's /api/info says, and what site.js
    needs to answer the requests the server would."""
    model = meta["model"]
    offsets = neighbors(torch.zeros(model["nz"]), ARITHMETIC_NEIGHBORS, ARITHMETIC_NOISE)[1:]
    return {
        "info": {
            "checkpoint": name,
            "step": meta["step"],
            "size": model["size"],
            "channels": model["channels"],
            "nz": model["nz"],
            "z_dist": meta["z_dist"],
            "bn": meta["bn"],
            "directions": sorted(directions),
            "limits": {
                "seed_max": seeds - 1,
                "images": rq.MAX_IMAGES,
                "frames": rq.MAX_FRAMES,
                "exemplars": rq.MAX_EXEMPLARS,
                "scale": rq.MAX_SCALE,
            },
        },
        "noise": ARITHMETIC_NOISE,
        "offsets": offsets.tolist(),  # Y's neighbours are Y + offsets[k] (noise seed 0)
        "directions": directions,
    }


def page(ort_url: str) -> str:
    """The served explorer's index.html, marked as a site, with an import map that names
    onnxruntime-web and its sha384."""
    html = static_file("index.html").decode()
    imports = {"imports": {"onnxruntime-web": ort_url}, "integrity": {ort_url: ORT_FILES[ORT_JS]}}
    swaps = {
        '<body data-busy="0">': '<body data-busy="0" data-backend="site">',
        '<script src="explore.js">': (
            f'<script type="importmap">{json.dumps(imports)}</script>\n<script src="explore.js">'
        ),
    }
    for old, new in swaps.items():
        if old not in html:  # the page changed: this must change with it
            raise RuntimeError(f"index.html has no {old!r}")
        html = html.replace(old, new)
    return html


def check_out(out: str | Path) -> Path:
    """`out` as a site folder to write: new, empty or a site already."""
    out = check_not_special(output_path(out), "a folder")
    if out.exists() and not out.is_dir():
        raise DcganError(f"{out} is a file, and a site is a folder: choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / SITE).is_file():
        raise DcganError(f"{out} is a folder of other files, not a site: choose a new or empty one")
    return out


# onnxruntime-web for --offline -----------------------------------------------------------


def integrity(data: bytes) -> str:
    """The subresource-integrity string of `data` (sha384)."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def ort_web(source: str | None, cache: str) -> dict[str, bytes]:
    """onnxruntime-web's two files, checked against their sha384: from `source` (its npm .tgz
    or package folder), else from the .tgz in the cache, which `npm pack` makes when absent."""
    path = Path(source).expanduser() if source else ort_web_tgz(cache)
    files = {name: _read(path, name) for name in ORT_FILES}
    for name, data in files.items():
        if integrity(data) != ORT_FILES[name]:
            raise DcganError(
                f"{path}: {name} is not onnxruntime-web {ORT_VERSION}'s (its sha384 differs);"
                f" use a copy of onnxruntime-web@{ORT_VERSION}"
            )
    return files


def _read(path: Path, name: str) -> bytes:
    """dist/NAME from an npm .tgz, a package folder or a folder above node_modules."""
    if path.is_file():
        try:
            with tarfile.open(path, "r:gz") as tar:
                member = tar.extractfile(f"package/dist/{name}")
                if member is not None:
                    return member.read()
        except (tarfile.TarError, KeyError, OSError):
            pass
        raise DcganError(f"{path} is not an npm .tgz of onnxruntime-web (no dist/{name})")
    for folder in (path, path / "package", path / "node_modules" / "onnxruntime-web"):
        if (folder / "dist" / name).is_file():
            return (folder / "dist" / name).read_bytes()
    raise DcganError(
        f"no onnxruntime-web in {path} (no dist/{name}): give --ort-web its npm .tgz or"
        " package folder"
    )


def ort_web_tgz(cache: str | Path) -> Path:
    """CACHE/npm/onnxruntime-web-VERSION.tgz, fetched with `npm pack` when absent."""
    tgz = Path(cache).expanduser() / "npm" / f"onnxruntime-web-{ORT_VERSION}.tgz"
    if tgz.is_file():
        return tgz
    npm = shutil.which("npm")
    if npm is None:
        raise DcganError(
            f"--offline needs onnxruntime-web {ORT_VERSION} and npm is not installed: give"
            f" --ort-web PATH, a copy made elsewhere by npm pack onnxruntime-web@{ORT_VERSION}"
        )
    tgz.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tgz.parent) as tmp:
        command = [npm, "pack", f"onnxruntime-web@{ORT_VERSION}", "--pack-destination", tmp]
        try:
            subprocess.run(command, capture_output=True, text=True, check=True, timeout=900)
            (Path(tmp) / tgz.name).replace(tgz)
        except (subprocess.SubprocessError, OSError) as e:
            lines = (getattr(e, "stderr", None) or str(e)).strip().splitlines()
            raise DcganError(
                f"npm pack onnxruntime-web@{ORT_VERSION} failed ({lines[-1] if lines else e}):"
                " no network? give --ort-web PATH"
            ) from None
    return tgz


def main() -> None:
    """`python -m dcgan.explore.site` (make ort-web): onnxruntime-web's .tgz into the cache."""
    from dcgan.options import CACHE

    try:
        print(ort_web_tgz(CACHE))
    except DcganError as e:
        raise SystemExit(f"dcgan: error: {e}") from None


if __name__ == "__main__":
    main()
