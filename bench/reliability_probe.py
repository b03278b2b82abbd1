"""The cases of bench/reliability.py that an independent probe found (issue 24), each met the
way a user meets it: a full-width checkpoint killed mid-write, Ctrl-C at full width, FIFOs
and devices where files are read or written, archive bombs, file names that are not UTF-8
through `dcgan dedup`, and misuse of the Python API."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from reliability_wide import (
    GUARD_S,
    ctrl_c_trial,
    measured,
    wide_args,
    wide_kill_trial,
    wide_reference,
)

from dcgan import DcganError, ModelConfig, TrainConfig
from dcgan.checkpoint import load_checkpoint
from dcgan.training import train


def _pngs(folder: Path, n: int, seed: int = 0) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"a{i}.png")


def special_files(root: Path, cache: Path, run: Path) -> list[dict]:
    """A FIFO in a data folder, a FIFO or a device as the source, and at sample/export --out."""
    root.mkdir()
    _pngs(root / "imgs", 4)
    os.mkfifo(root / "imgs" / "x.jpg")
    os.mkfifo(root / "data.npz")
    os.mkfifo(root / "grid.png")
    os.mkfifo(root / "g.safetensors")
    (root / "null.png").symlink_to("/dev/null")
    (root / "null.safetensors").symlink_to("/dev/null")
    tiny = [
        "--size",
        "16",
        "--ngf",
        "8",
        "--ndf",
        "8",
        "--batch-size",
        "2",
        "--steps",
        "1",
        "--no-progress",
        "--out",
        str(root / "runs"),
        "--cache",
        str(cache / "special"),
    ]
    cases = {
        "FIFO x.jpg in a folder: prepare": ["prepare", str(root / "imgs"), str(root / "p1"),
                                            "--size", "16"],
        "FIFO x.jpg in a folder: train": ["train", "--data", str(root / "imgs"), *tiny],
        "FIFO as the source: prepare": ["prepare", str(root / "data.npz"), str(root / "p2")],
        "FIFO as the source: train": ["train", "--data", str(root / "data.npz"), *tiny],
        "/dev/zero as the source: prepare": ["prepare", "/dev/zero", str(root / "p3")],
        "FIFO at sample --out": ["sample", str(run), "--n", "4", "--out", str(root / "grid.png")],
        "FIFO at export --out": ["export", str(run), "--out-format", "safetensors", "--out",
                                 str(root / "g.safetensors")],
        "link to /dev/null at sample --out": ["sample", str(run), "--n", "4", "--out",
                                              str(root / "null.png")],
        "link to /dev/null at export --out": ["export", str(run), "--out-format", "safetensors",
                                              "--out", str(root / "null.safetensors")],
    }  # fmt: skip
    rows = []
    for case, args in cases.items():
        r = measured(args, timeout=GUARD_S)
        skipped = None
        if (root / "p1" / "meta.json").is_file() and args[0] == "prepare" and "imgs" in args[1]:
            skipped = json.loads((root / "p1" / "meta.json").read_text()).get("skipped")
        rows.append({"case": case, **r, "skipped": skipped})
    kept = [(root / n).is_fifo() for n in ("grid.png", "g.safetensors")]
    kept += [os.readlink(root / n) == "/dev/null" for n in ("null.png", "null.safetensors")]
    rows.append({"case": "special files at --out left as they were", "kept": all(kept)})
    return rows


# --- archive bombs -----------------------------------------------------------------------------


class _Zeros(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        b[:] = bytes(len(b))
        return len(b)


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (12, 12), (9, 9, 9)).save(buf, "PNG")
    return buf.getvalue()


def tar_gz(path: Path, zeros: int) -> Path:
    """A .tar.gz of one image, after a member of `zeros` zero bytes (none: no such member)."""
    with tarfile.open(path, "w:gz", compresslevel=9) as tf:
        if zeros:
            info = tarfile.TarInfo("big.png")
            info.size = zeros
            tf.addfile(info, io.BufferedReader(_Zeros()))
        info = tarfile.TarInfo("ok.png")
        info.size = len(_png_bytes())
        tf.addfile(info, io.BytesIO(_png_bytes()))
    return path


def npz(path: Path, shape: tuple[int, ...]) -> Path:
    """An .npz whose member x.npy is a uint8 array of zeros of `shape`, streamed, deflated."""
    zf = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9)
    with zf, zf.open("x.npy", "w", force_zip64=True) as m:
        header = {"descr": "|u1", "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(m, header)
        left = int(np.prod(shape))
        while left:
            m.write(bytes(min(left, 1 << 22)))
            left -= min(left, 1 << 22)
    return path


def bombs(root: Path) -> list[dict]:
    """`dcgan prepare` on a 1.5 GB member in a small archive, beside the same archive
    without it (the control): peak memory, exit code, what it says."""
    root.mkdir()
    files = {
        "tar.gz, 1.5 GB zero member + 1 image": tar_gz(root / "bomb.tar.gz", 1_500_000_000),
        "tar.gz, 1 image (control)": tar_gz(root / "ok.tar.gz", 0),
        "npz, 1.5 GB of zeros": npz(root / "bomb.npz", (366_211, 64, 64)),
        "npz, 4 images of zeros (control)": npz(root / "ok.npz", (4, 64, 64)),
    }
    rows = []
    for i, (case, path) in enumerate(files.items()):
        r = measured(["prepare", str(path), str(root / f"out{i}"), "--size", "16"])
        meta = root / f"out{i}" / "meta.json"
        packed = json.loads(meta.read_text()) if meta.is_file() else {}
        rows.append({"case": case, "file_mb": round(path.stat().st_size / 1e6, 2), **r,
                     "packed": packed.get("count"), "skipped": packed.get("skipped")})  # fmt: skip
        path.unlink()
    return rows


# --- file names that are not UTF-8 through dedup ----------------------------------------------

BAD = b"bad\xff.png"


def dedup_names(root: Path) -> dict:
    """`dcgan dedup` over a folder where a duplicate is named with a byte that is not UTF-8."""
    _pngs(root / "imgs", 12)
    shutil.copyfile(root / "imgs" / "a0.png", root / "imgs" / os.fsdecode(BAD))
    out = root / "out"
    r = measured(["dedup", str(root / "imgs"), "--out", str(out), "--hash", "paper",
                  "--epochs", "1", "--workers", "1"], timeout=600)  # fmt: skip
    found = {}
    if r["exit_code"] == 0:
        groups = json.loads((out / "groups.json").read_text(encoding="utf-8"))
        names = {d["name"] for g in groups["items"] for d in [g["keep"], *g["duplicates"]]}
        listed = [json.loads(line) for line in (out / "names.txt").read_text().splitlines()]
        found = {
            "groups.json": BAD in {os.fsencode(n) for n in names},
            "names.txt": BAD in {os.fsencode(n) for n in listed},
            "groups.csv": BAD in (out / "groups.csv").read_bytes(),
        }
    return {**r, "recovered_byte_exact": found}


# --- the Python API, misused -------------------------------------------------------------------


def api_misuse(root: Path, cache: Path) -> list[dict]:
    """Each misuse the CLI cannot make, through dcgan's API: an error of one line, or not."""
    tiny = dict(data="digits", model=ModelConfig(size=16, channels=1, ngf=8, ndf=8),
                batch_size=16, steps=2, progress=False, cache=str(cache))  # fmt: skip
    run = train(TrainConfig(out=str(root / "api"), **tiny)).run_dir
    cases: dict[str, Callable[[], object]] = {
        "train(TrainConfig(out=RUN)) without resume": lambda: train(
            TrainConfig(**{**tiny, "out": str(run)})
        ),
        "train(config with another lr and seed, resume=RUN)": lambda: train(
            TrainConfig(lr=0.1, seed=99, progress=False), resume=run
        ),
        'TrainConfig(out="")': lambda: TrainConfig(out=""),
        "TrainConfig(data=None)": lambda: TrainConfig(data=None),  # type: ignore[arg-type]
        "TrainConfig(data=123)": lambda: TrainConfig(data=123),  # type: ignore[arg-type]
        'train("digits")': lambda: train("digits"),  # type: ignore[arg-type]
    }
    rows = []
    for case, call in cases.items():
        error: BaseException | None = None
        try:
            call()
        except BaseException as e:  # noqa: BLE001 - which one is the measurement
            error = e
        rows.append({
            "case": case,
            "raised": type(error).__name__ if error else None,
            "dcgan_error": isinstance(error, DcganError),
            "one_line": error is not None and "\n" not in str(error),
            "message": str(error)[:200] if error else "",
        })  # fmt: skip
    rows.append({"case": "the run after these calls", "step": load_checkpoint(run)["step"]})
    return rows


# --- all of them -------------------------------------------------------------------------------


def probe(root: Path, cache: Path, tiny_run: Path, rng: random.Random, trials: int) -> dict:
    """Every case above; `trials` kills mid-write and Ctrl-Cs at full width."""
    ref = wide_reference(root, cache)
    shares = [0.05, 0.5, 0.95, 1.0]
    kills = []
    for i in range(trials):
        step, share = (2, shares[i % len(shares)]) if i < trials - 1 else (1, 0.5)
        kills.append(wide_kill_trial(root / f"wide{i}", cache, step, share, ref))
        print(f"wide kill {i + 1}/{trials}: {kills[-1]}", flush=True)
    shutil.rmtree(ref.parent)
    ctrl_c = []
    for i in range(trials):
        ctrl_c.append(ctrl_c_trial(root / f"ctrl-c{i}", cache, rng.uniform(0, 2)))
        print(f"ctrl-c {i + 1}/{trials}: {ctrl_c[-1]}", flush=True)
        shutil.rmtree(root / f"ctrl-c{i}")
    return {
        "wide_kill9_mid_write": {
            "model": " ".join(wide_args(Path("RUNS"), Path("CACHE"))[1:]),
            "checkpoint_mb": ctrl_c[0]["checkpoint_mb"] if ctrl_c else None,
            "trials": len(kills),
            "killed_mid_write": sum(k["temp_bytes_at_kill"] is not None for k in kills),
            "resumed": sum(k["resume_exit_code"] == 0 for k in kills),
            "bit_identical": sum(k["bit_identical"] for k in kills),
            "temp_files_after_resume": sum(k["temp_files_after_resume"] for k in kills),
            "runs": kills,
        },
        "ctrl_c_full_width": {"trials": len(ctrl_c), "runs": ctrl_c},
        "special_files": special_files(root / "special", cache, tiny_run),
        "bombs": bombs(root / "bombs"),
        "dedup_non_utf8": dedup_names(root / "dedup"),
        "api_misuse": api_misuse(root / "api", cache / "api"),
    }


def report_rows(r: dict) -> list[list]:
    """The table rows of the cases above."""
    k, c = r["wide_kill9_mid_write"], r["ctrl_c_full_width"]["runs"]
    rows = [
        ["kill -9 mid-write, 284 MB checkpoint: caught mid-write",
         f"{k['killed_mid_write']}/{k['trials']}"],
        ["  resumed with `train --resume RUN`, bit-identical",
         f"{k['bit_identical']}/{k['trials']}"],
        ["  temp files left after the resume", k["temp_files_after_resume"]],
    ]  # fmt: skip
    if c:
        msg = [x["to_message_s"] for x in c if x["to_message_s"] is not None]
        rows += [
            ["Ctrl-C at full width: to the message (s, min-max)", _span(msg)],
            ["  to the exit (s, min-max; one step takes)",
             f"{_span([x['to_exit_s'] for x in c])} ({_span([x['step_s'] for x in c])})"],
        ]  # fmt: skip
    for row in r["special_files"] + r["bombs"]:
        if "exit_code" in row:
            what = f"exit {row['exit_code']}, {row['stderr_lines']} line(s)"
            what += ", hung" if row["hung"] else ""
            if row.get("skipped") is not None:
                what += f", {row['skipped']} skipped"
            elif row["said_skipped"]:
                what += ", said 1 skipped"
            rows.append([row["case"], what + f", {row['peak_rss_mb']} MB peak"])
    d = r["dedup_non_utf8"]
    rows.append(
        [
            "dedup, a name that is not UTF-8: exit, recovered byte-exact",
            f"{d['exit_code']}, {sum(d['recovered_byte_exact'].values())}/3 outputs",
        ]
    )
    api = [x for x in r["api_misuse"] if "raised" in x]
    good = sum(x["dcgan_error"] and x["one_line"] for x in api)
    rows.append(["API misuse: one-line DcganError", f"{good}/{len(api)}"])
    return rows


def _span(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if values else "-"
