"""Atomic file writes: a reader (or a killed process) never sees a half-written file."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from dcgan.errors import DcganError


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Open a temp file beside `path`; on success fsync it and `os.replace` it onto `path`."""
    path = check_not_special(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.chmod(tmp, default_mode())  # mkstemp makes 0600; outputs get the usual mode
    except OSError as e:
        raise DcganError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write(path: str | Path, write: Callable[[IO], object], mode: str = "wb") -> Path:
    """Call `write(f)` on a temp file and move it onto `path` atomically."""
    with atomic_open(path, mode) as f:
        write(f)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text), mode="w")


def write_output(path: str | Path, write: Callable[[IO], object], mode: str = "wb") -> Path:
    """`atomic_write` for a file the user asked for: a failed write (a full disk, say) is one
    line naming the file, which says the previous one is kept only when there was one, and
    the folders made for the file are removed again."""
    path = Path(path)
    existed = path.is_file()
    made = [p for p in [path.parent, *path.parent.parents] if not p.exists()]
    try:
        return atomic_write(path, write, mode)
    except BaseException as e:
        for folder in made:  # innermost first; a folder that is not empty stays
            with contextlib.suppress(OSError):
                folder.rmdir()
        if not isinstance(e, OSError):
            raise
        kept = "; the previous one is kept" if existed else ""
        raise DcganError(f"cannot write {path} ({e.strerror or e}){kept}") from None


SPECIAL = {
    stat.S_ISFIFO: "a FIFO",
    stat.S_ISCHR: "a device",
    stat.S_ISBLK: "a device",
    stat.S_ISSOCK: "a socket",
}


def special_kind(path: str | Path) -> str | None:
    """What `path` is (through any symlink) when it exists as neither a regular file nor a
    folder: "a FIFO", "a device", ...; None otherwise."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return next((name for test, name in SPECIAL.items() if test(mode)), "a special file")


def check_not_special(path: str | Path, want: str = "a regular file") -> Path:
    """`path`, refused when it is a FIFO, a device or a socket: replacing one would break
    the system (a device node) and reading one may block for ever (a FIFO)."""
    kind = special_kind(path)
    if kind is not None:
        raise DcganError(f"{path} exists and is {kind}, not {want}: choose another output")
    return Path(path)


def default_mode(directory: bool = False) -> int:
    """The mode a plain open()/mkdir() would give under the current umask (mkstemp and
    mkdtemp give 0600/0700, which would hide outputs from the user's group)."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def output_path(out: str | Path) -> Path:
    """An output path a user gave; an empty one is refused (it would mean the current folder)."""
    if not str(out).strip():
        raise DcganError("the output path (--out) is empty: name a file or folder to write")
    return Path(out)


KINDS = {
    "empty": "an empty file",
    "image": "an image",
    "checkpoint": "a PyTorch checkpoint",
    "torchscript": "a TorchScript model",
    "safetensors": "a safetensors file",
    "onnx": "an ONNX model",
    "pytorch-examples": "a pytorch/examples state dict",
    "other": "another kind of file",
}


def file_kind(path: Path) -> str:
    """What an existing file is, from its content: one of KINDS."""
    from PIL import Image

    head = b""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
        if not head:
            return "empty"
        if zipfile.is_zipfile(path):
            names = zipfile.ZipFile(path).namelist()
            if any("/code/" in n for n in names):
                return "torchscript"
            return "checkpoint" if any(n.endswith("data.pkl") for n in names) else "other"
        size = int.from_bytes(head[:8], "little")
        if len(head) > 8 and head[8:9] == b"{" and size < path.stat().st_size:
            return "safetensors"
        with Image.open(path):
            return "image"
    except (OSError, zipfile.BadZipFile, ValueError):  # Pillow: not an image it knows
        return "onnx" if head[:1] == b"\x08" else "other"


def check_overwrite(path: str | Path, kind: str, force: bool = False) -> Path:
    """`path` as an output of `kind` (see `file_kind`): an existing file of another kind (a
    checkpoint above all) is refused unless `force`; a folder is always refused."""
    path = check_not_special(output_path(path))
    if path.is_dir():
        raise DcganError(f"{path} is a folder: give a file path to --out")
    if path.exists() and not force:
        found = file_kind(path)
        if found not in (kind, "empty"):
            raise DcganError(
                f"{path} exists and is {KINDS[found]}, not {KINDS[kind]}: choose another"
                " --out, or pass --force to replace it"
            )
    return path


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def new_folder(out: Path) -> Iterator[Path]:
    """A temp folder beside `out`, renamed onto it once complete: a reader (or the cache of
    `dcgan pull`) never sees half a folder."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
        os.chmod(tmp, default_mode(directory=True))
    except OSError as e:
        raise DcganError(f"cannot write {out} ({e.strerror or e})") from None
    old = tmp.with_name(tmp.name.removesuffix(".tmp") + ".old")
    try:
        yield tmp
        if out.exists():
            os.rename(out, old)
        try:
            os.rename(tmp, out)
        except OSError:
            if old.exists():
                os.rename(old, out)
            raise
    except OSError as e:
        raise DcganError(f"cannot write {out} ({e.strerror or e})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
