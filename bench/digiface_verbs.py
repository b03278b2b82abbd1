"""The §6 verbs on the DigiFace generator, run as a user runs them, against the numbers of
bench/digiface_latent.py (bench/results/digiface_latent.json).

The model is pulled as a user would (`dcgan pull digiface64 --from weights.tar`, into a
temporary cache). Then:
- a new user's command, `dcgan turn M --bn running --rows 8 --scale 2`, with the profile
  cascade and the former defaults (`--pose profile --pool 400`) and with the landmark yaw;
- `dcgan turn M --bn running --rows 40` at scale 1 and 2: rows of seeds 100000+, which
  bench/digiface_latent.py never used (its rows are 400000+);
- `dcgan arithmetic M --bn running --auto glasses|mouth-open` with their defaults, which
  must give the bench's exemplars and rates exactly;
- `dcgan forget M --bn running --auto landmark-eyes --test-n 0`, which must drop the
  bench's maps.

Run: python bench/digiface_verbs.py  (about 3 CPU-minutes; writes
bench/results/digiface_verbs.json)
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from harness import SHARED, parse_args, print_table, results_path, write_results

from dcgan.cli import main as dcgan
from dcgan.options import opt


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    weights: str = opt(str(SHARED / "pretrained/digiface64_dcgan/weights.tar"))
    bench: str = opt(str(results_path("digiface_latent")), "the bench's results to compare")
    json: str = opt(str(results_path("digiface_verbs")))


def run(argv: list[str], out: Path, name: str) -> dict:
    """`dcgan ARGV --out OUT/` and the JSON it wrote as NAME."""
    code = dcgan([*argv, "--out", f"{out}/"])
    if code:
        raise SystemExit(f"dcgan {' '.join(argv)} exited {code}")
    return json.loads((out / name).read_text())


def turn_row(label: str, r: dict, rows: int) -> list:
    c = r.get("turn_success_random")
    control = f"{c['mean']:.3f} ± {c['std']:.3f} ({c['min']:.3f}–{c['max']:.3f})" if c else "–"
    return [label, f"{r['turn_success']:.3f} ({round(r['turn_success'] * rows)}/{rows})", control]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, __doc__, argv)
    if not Path(args.weights).is_file():
        print(f"{args.weights} is absent", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    bench = json.loads(Path(args.bench).read_text())
    result: dict = {"bench": str(Path(args.bench).name), "turn": {}, "arithmetic": {}}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        assert dcgan(["pull", "digiface64", "--from", args.weights, "--cache", str(t)]) == 0
        m = str(t / "models" / "digiface64")
        user = ["turn", m, "--bn", "running", "--rows", "8", "--scale", "2"]
        runs = {
            "user, profile cascade (former defaults)": (
                [*user, "--pose", "profile", "--pool", "400"],
                8,
            ),
            "user, landmark yaw": (user, 8),
            "40 rows, scale 1 (the default)": (["turn", m, "--bn", "running", "--rows", "40"], 40),
            "40 rows, scale 2": (
                ["turn", m, "--bn", "running", "--rows", "40", "--scale", "2"],
                40,
            ),
        }
        rows = []
        for i, (label, (cmd, n)) in enumerate(runs.items()):
            r = run(cmd, t / f"turn{i}", "turn.json")
            r.pop("turn_vector")
            result["turn"][label] = {"command": " ".join(cmd[2:]), **r}
            rows.append(turn_row(label, r, n))
        print_table(["dcgan turn M --bn running ...", "rows turned", "random directions"], rows)
        landmark = result["turn"]["40 rows, scale 1 (the default)"]
        result["turn_vector_equals_the_bench"] = bool(
            landmark["left"] == bench["turn"]["left_seeds"]
            and landmark["right"] == bench["turn"]["right_seeds"]
        )
        rows = []
        for name, key in (("glasses", "glasses"), ("mouth-open", "mouth_open")):
            cmd = ["arithmetic", m, "--bn", "running", "--auto", name]
            r = run(cmd, t / name, f"arithmetic.{name}.json")
            r.pop("vector")
            b = bench["arithmetic"][key]
            same = bool(
                r["exemplars"] == b["exemplars"]
                and r["rate_with_vector"] == b["rate_with_vector"]
                and r["rate_with_random"]["draws"] == b["rate_with_random"]["draws"]
            )
            result["arithmetic"][name] = {**r, "equals_the_bench": same}
            c = r["rate_with_random"]
            rows.append(
                [
                    name,
                    r["rate_with_vector"],
                    f"{c['mean']:.3f} ± {c['std']:.3f}",
                    b["rate_with_vector"],
                    same,
                ]
            )
        print_table(["--auto", "rate with vector", "random vectors", "bench", "same"], rows)
        cmd = ["forget", m, "--bn", "running", "--auto", "landmark-eyes", "--test-n", "0"]
        r = run(cmd, t / "forget", "forget.json")
        dropped = bench["forget"]["variants"]["layer2_positive"]["maps_dropped"]
        result["forget"] = {
            "dropped": len(r["dropped"]),
            "train_accuracy": r["train_accuracy"],
            "bench_dropped": dropped,
            "equals_the_bench": len(r["dropped"]) == dropped,
        }
    print(f"turn vector is the bench's: {result['turn_vector_equals_the_bench']}")
    print(f"forget --auto landmark-eyes: {result['forget']}")
    print(f"written to {write_results(Path(args.json), result, indent=1)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
