"""The command line: prepare -> train -> sample round trip, and one-line errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.cli import main
from dcgan.sampling import load, sample

TRAIN_TINY = [
    "--size",
    "16",
    "--ngf",
    "8",
    "--ndf",
    "8",
    "--batch-size",
    "32",
    "--no-progress",
    "--log-every",
    "1",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("cli")
    assert main(["prepare", "digits", str(tmp / "digits16"), "--size", "16"]) == 0
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp / "digits16"),
                "--steps",
                "4",
                "--ema",
                "0.9",
                "--out",
                str(tmp / "runs"),
                *TRAIN_TINY,
            ]
        )
        == 0
    )
    return next((tmp / "runs").iterdir())


def test_sample_grid_and_per_seed(run_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["sample", str(run_dir), "--n", "16", "--out", str(tmp_path / "g.png")]) == 0
    grid = Image.open(tmp_path / "g.png")
    assert grid.size == (4 * 18 + 2, 4 * 18 + 2)  # 4x4 tiles of 16 px, 2 px padding
    assert main(["sample", str(run_dir), "--seeds", "3,5-6", "--out", str(tmp_path / "each/")]) == 0
    names = sorted(p.name for p in (tmp_path / "each").iterdir())
    assert names == ["seed000003.png", "seed000005.png", "seed000006.png"]
    assert np.asarray(Image.open(tmp_path / "each" / "seed000005.png")).shape == (16, 16)


@pytest.mark.parametrize("bn", ["batch", "running"])
def test_same_seed_same_image_whatever_the_batch(run_dir: Path, bn: str) -> None:
    model = load(run_dir)
    a = sample(model, seeds=[7, 1, 2, 3], bn=bn)
    b = sample(model, seeds=[9, 7], bn=bn)
    torch.testing.assert_close(a[0], b[1])
    assert not torch.equal(a[0], a[1])


def test_interpolate_writes_strip(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "walk.png"
    assert (
        main(
            [
                "interpolate",
                str(run_dir),
                "--seeds",
                "1,2,3",
                "--segment-steps",
                "4",
                "--out",
                str(out),
                "--spherical",
            ]
        )
        == 0
    )
    # One row per segment, both ends shown: 2 rows of 5 images; a GIF of the 9 frames beside it.
    assert Image.open(out).size == (5 * 18 + 2, 2 * 18 + 2)
    assert Image.open(out.with_suffix(".gif")).n_frames == 9


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dcgan", *args], capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize(
    "args, needle",
    [
        (["train", "--data", "/no/such/dir", "--steps", "1"], "/no/such/dir"),
        (["train", "--data", "digits", "--size", "48", "--steps", "1"], "power of two"),
        (["train", "--data", "digits", "--z-dist", "cauchy"], "--z-dist"),
        (["prepare", "digits", "x", "--format", "nonsense"], "nonsense"),
        (["sample", "/no/such.pt"], "not found"),
        (["train", "--size"], "expected one argument"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_one_line_exit_2(args: list[str], needle: str, tmp_path: Path) -> None:
    r = cli(*args, *(["--cache", str(tmp_path)] if args[0] == "train" and len(args) > 2 else []))
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr


def test_corrupt_checkpoint_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    r = cli("sample", str(bad), "--out", str(tmp_path / "x.png"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "not a readable checkpoint" in r.stderr


def test_unwritable_output_file_path(run_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where a directory is needed: fails even for root
    r = cli("sample", str(run_dir), "--n", "4", "--out", str(blocker / "g.png"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_help_lists_defaults() -> None:
    r = cli("train", "--help")
    assert r.returncode == 0 and "--batch-size" in r.stdout and "128" in r.stdout
    assert "--lr" in r.stdout and "0.0002" in r.stdout


def test_grid_keeps_pixel_values() -> None:
    from dcgan.sampling import grid_image

    images = torch.full((4, 1, 16, 16), -1.0)
    images[1] = 1.0
    grid = np.asarray(grid_image(images, nrow=2, padding=2))
    assert grid[2, 2].tolist() == [0, 0, 0]  # black stays black
    assert grid[2, 20].tolist() == [255, 255, 255]  # white stays white
    assert grid[0, 0].tolist() == [255, 255, 255]  # white gutter


def run_cli(capsys, *args: str) -> tuple[int, str]:
    """`dcgan ARGS` in-process: (exit code, stderr); argparse's exits count as codes."""
    try:
        code = main(list(args))
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


def one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize("flag", ["--log-every", "--sample-every", "--checkpoint-every"])
@pytest.mark.parametrize("value", ["0", "-3", "nan"])
def test_train_intervals_are_checked_before_any_run_dir(
    flag: str, value: str, tmp_path: Path, capsys
) -> None:
    """Was a ZeroDivisionError after the run directory was made (0), or a silent run (-3)."""
    code, err = run_cli(capsys, "train", "--out", str(tmp_path / "runs"), flag, value)
    if value == "nan":  # not an integer: argparse's own one-line error
        one_line_error(code, err, flag)
    else:
        one_line_error(code, err, f"{flag} must be in 1..")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["sample", "RUN", "--n", "0"], "--n must be in 1.."),
        (["sheet", "RUN", "--n", "0"], "--n must be in 1.."),
        (["report", "RUN", "--n", "0"], "--n must be in 1.."),
        (["report", "RUN", "--n", "99999999999999999999"], "--n must be in 1..1024"),
        (["report", "RUN", "--n", "100000000"], "--n must be in 1..1024"),
        (["sample", "RUN", "--n", "9" * 400], "--n must be in 1.."),  # beyond any float
        (["turn", "RUN", "--pool", "0"], "--pool must be in 2.."),
        (["visualize", "RUN", "--data", "digits", "--seed", "99999999999999999999"], "--seed"),
        (["arithmetic", "RUN", "--A", "1", "--B", "2", "--C", "3", "--noise", "-1"], "--noise"),
        (["arithmetic", "RUN", "--A", "1", "--B", "2", "--C", "3", "--neighbors", "0"], "--nei"),
        (["sample", "RUN", "--seeds", "5-2"], "runs backwards"),
        (["sample", "RUN", "--seeds", "0-99999999999"], "at most"),
        (["sample", "RUN", "--out", "x.jpg"], "writes PNG"),
        (["sheet", "RUN", "--out", "x.jpeg"], "writes PNG"),
        (["export", "RUN", "--out-format", "onnx", "--out", "g.safetensors"], "does not match"),
        (["export", "RUN", "--out", "g.bin"], "cannot tell the format"),
        (["train", "--lr", "inf"], "--lr must be non-negative, got inf"),
        (["train", "--beta1", "nan"], "--beta1 must be in [0, 1)"),
        (["train", "--ema", "1"], "--ema must be in (0, 1)"),
        (["classify", "RUN", "--data", "digits", "--c", "0,1"], "--c must be positive"),
        (["dedup", "src", "--out", "o", "--dropout", "1"], "--dropout must be in [0, 1)"),
    ],
)
def test_bad_values_are_one_line_errors(
    args: list[str], needle: str, run_dir: Path, tmp_path: Path, capsys
) -> None:
    """Zero, negative, NaN, inf and huge values: the same one-line message, exit 2 (were
    torch.cat of an empty list, OverflowError, a 3.9 GB allocation, or exit 0)."""
    args = [str(run_dir) if a == "RUN" else a for a in args]
    if "--out" not in args and args[0] not in ("report", "train", "classify"):
        args += ["--out", str(tmp_path / "o.png")]
    one_line_error(*run_cli(capsys, *args), needle)


def test_export_format_follows_the_extension(run_dir: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("safetensors")
    assert main(["export", str(run_dir), "--out", str(tmp_path / "g.safetensors")]) == 0
    assert "safetensors generator" in capsys.readouterr().out


def test_export_extensions_cover_every_format() -> None:
    from dcgan.export import FORMATS
    from dcgan.options_tools import EXTENSIONS

    assert tuple(EXTENSIONS) == FORMATS


def test_prepare_refuses_a_size_train_refuses(tmp_path: Path, capsys) -> None:
    code, err = run_cli(capsys, "prepare", "digits", str(tmp_path / "p"), "--size", "48")
    one_line_error(code, err, "--size must be a power of two", "48")
    assert not (tmp_path / "p").exists()


def test_bad_checkpoint_bytes_are_one_line(tmp_path: Path, capsys) -> None:
    """Another format's bytes (torch.load hands .safetensors to safetensors) and a pickle
    holding code: our own line, not SafetensorError nor torch's weights_only=False advice."""
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 8 + b"{not a header")
    one_line_error(*run_cli(capsys, "sample", str(bad)), "not a readable checkpoint")
    pickled = tmp_path / "code.pt"
    torch.save({"f": Path}, pickled)  # a class: loading it needs the unpickler to import
    code, err = run_cli(capsys, "sample", str(pickled))
    one_line_error(code, err, "never loaded")
    assert "weights_only" not in err and "succeed" not in err


def test_resume_refuses_a_changed_flag_and_allows_limits(tmp_path: Path, capsys) -> None:
    from conftest import train_tiny

    run = str(train_tiny(tmp_path, steps=2))
    code, err = run_cli(
        capsys, "train", "--resume", run, "--size", "32", "--ngf", "64", "--lr", "0.1"
    )
    one_line_error(code, err, "--lr 0.1, --ngf 64, --size 32: cannot change on --resume")
    # The same values as the run's are no change; a limit may move.
    assert main(["train", "--resume", run, "--size", "16", "--steps", "3", "--no-progress"]) == 0
    assert load(run).step == 3


def test_out_that_is_a_run_needs_resume(run_dir: Path, capsys) -> None:
    """Was a silent resume."""
    code, err = run_cli(capsys, "train", "--out", str(run_dir), "--steps", "9")
    one_line_error(code, err, "is a run directory", "--resume")


def test_help_shows_choices_and_one_default(capsys) -> None:
    from dcgan.cli import parser

    def help_of(verb: str) -> str:
        with pytest.raises(SystemExit):
            parser().parse_args([verb, "--help"])
        return " ".join(capsys.readouterr().out.split())  # argparse wraps lines

    train = help_of("train")
    for choices in ("--z-dist {uniform,normal}", "--proj-norm {channel,unit}"):
        assert choices in train
    assert "--eval-metric {fid,kid,is,pr}" in train
    assert "(default: None)" not in train and train.count("(default: lr)") == 2
    assert "--feature-bn {inferred,running,batch}" in help_of("classify")
    classify = help_of("classify")
    assert "(default: 100)" in classify and "(100,)" not in classify
    assert "(default: 1e-05,0.0001,0.001,0.01,0.1)" in classify
    assert "--progress, --no-progress show progress (default: on)" in classify


def test_every_number_of_every_verb_is_checked() -> None:
    """The one rule: each verb is a dataclass, and each of its numeric fields has a check."""
    from dcgan.cli import parser
    from dcgan.cli.args import fields

    verbs = parser()._subparsers._group_actions[0].choices
    for name, p in verbs.items():
        spec = p.get_default("spec")
        for f, kind in fields(spec):
            base = [t for t in getattr(kind, "__args__", (kind,)) if t is not type(None)][0]
            numeric = base in (int, float) or getattr(base, "__args__", (None,))[0] in (int, float)
            if numeric and kind is not bool:
                assert f.metadata.get("check") is not None, f"{name} --{f.name} is unchecked"


# The package without its __init__ (which imports the API eagerly), in a fresh interpreter.
BARE = (
    "import sys, types\n"
    "m = types.ModuleType('dcgan')\n"
    f"m.__path__ = [{str(Path(__file__).resolve().parents[1] / 'src' / 'dcgan')!r}]\n"
    "sys.modules['dcgan'] = m\n"
)


def test_cache_location(tmp_path: Path) -> None:
    """One constant: $DCGAN_CACHE, else $XDG_CACHE_HOME/dcgan, else ~/.cache/dcgan."""
    code = f"{BARE}from dcgan.options import CACHE; print(CACHE)"
    env = {k: v for k, v in os.environ.items() if k not in ("DCGAN_CACHE", "XDG_CACHE_HOME")}
    bare = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert bare.stdout.strip() == str(Path("~/.cache/dcgan").expanduser())
    xdg = {**env, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    r = subprocess.run([sys.executable, "-c", code], env=xdg, capture_output=True, text=True)
    assert r.stdout.strip() == str(tmp_path / "xdg" / "dcgan")
    mine = {**xdg, "DCGAN_CACHE": str(tmp_path / "c")}
    r = subprocess.run([sys.executable, "-c", code], env=mine, capture_output=True, text=True)
    assert r.stdout.strip() == str(tmp_path / "c")


def test_cli_imports_nothing_heavy() -> None:
    """Building every verb's parser and its help imports no torch, NumPy or PIL (the
    package's own __init__ aside, which is stubbed here)."""
    code = (
        f"{BARE}from dcgan.cli import parser\n"
        "for verb in parser()._subparsers._group_actions[0].choices:\n"
        "    parser()._subparsers._group_actions[0].choices[verb].format_help()\n"
        "print(sorted({k.split('.')[0] for k in sys.modules} & {'torch', 'numpy', 'PIL'}))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr


def test_neighbors_of_copied_images_is_one_line(run_dir: Path, tmp_path: Path, capsys) -> None:
    """Held-out images with exact copies in the rest made the distance ratio 0 / 0
    (ZeroDivisionError), found by the fuzz below."""
    np.savez(tmp_path / "flat.npz", x=np.zeros((30, 16, 16), np.uint8))
    args = [
        "neighbors",
        str(run_dir),
        "--data",
        str(tmp_path / "flat.npz"),
        "--ratio-samples",
        "10",
    ]
    args += ["--held-out", "10", "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "n.png")]
    one_line_error(*run_cli(capsys, *args), "exact copies")


def test_a_warning_on_the_command_line_is_one_line(tmp_path: Path, capsys) -> None:
    """A skipped file printed Python's warning: our file path, then a line of our source."""
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (20, 20), (i * 60, 0, 0)).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"not an image")
    assert main(["prepare", str(folder), str(tmp_path / "packed"), "--size", "16"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    warned = [line for line in err if "warning" in line]
    assert warned and all(line.startswith("dcgan: warning: ") for line in warned), err
    assert not any(".py:" in line or "warnings.warn" in line for line in err), err
