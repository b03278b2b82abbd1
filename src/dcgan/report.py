"""`dcgan report RUN_DIR`: one static HTML page of a run, `report.html` in the run directory.

It shows the config, the loss and D(x)/D(G(z)) curves, the in-training metric curves with
the best step marked, the fixed-z grids over time as a strip, final samples and an
interpolation row. Images are PNG files beside it (under `report/`, and the run's own
`samples/`), referenced by relative paths, so the page opens from disk without a server.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from dcgan.checkpoint import find_checkpoint
from dcgan.conventions import z_from_seeds
from dcgan.errors import DcganError
from dcgan.io import atomic_write, atomic_write_text
from dcgan.metrics.fidelity import METRICS
from dcgan.options import configure
from dcgan.options_tools import ReportConfig
from dcgan.plots import plot_health, plot_training, read_stats
from dcgan.sampling import generate, load, sample, save_grid, walk
from dcgan.watchdog import Alarm, logged

STRIP_MAX = 10
WALK_STEPS = 10
STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
.strip { display: flex; gap: 8px; overflow-x: auto; }
figure { margin: 0; text-align: center; font-size: 0.8em; }
img { image-rendering: pixelated; max-width: 100%; }
.strip img { width: 160px; }
"""


def _flat(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for k, v in d.items():
        out += _flat(v, f"{prefix}{k}.") if isinstance(v, dict) else [(f"{prefix}{k}", v)]
    return out


def eval_rows(rows: list[dict]) -> dict[str, list[dict]]:
    """The in-training evaluation rows of stats.jsonl, by metric name."""
    out: dict[str, list[dict]] = {}
    for r in rows:
        if "eval" in r:
            out.setdefault(r["eval"], []).append(r)
    return out


def best_of(name: str, rows: list[dict]) -> dict:
    metric = METRICS[name]
    pick = max if metric.higher_is_better else min
    return pick(rows, key=lambda r: r[metric.primary])


def plot_metrics(evals: dict[str, list[dict]], out: Path) -> Path | None:
    """Each in-training metric against the step, its best step marked; None if none."""
    if not evals:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(evals), figsize=(5 * len(evals), 3.5), squeeze=False)
    for ax, (name, rows) in zip(axes[0], evals.items(), strict=True):
        key = METRICS[name].primary
        ax.plot([r["step"] for r in rows], [r[key] for r in rows], "o-", lw=1, ms=3)
        best = best_of(name, rows)
        ax.plot(best["step"], best[key], "r*", ms=14, label=f"best: {best[key]:.4g}")
        where = (best["step"], best[key])
        ax.annotate(f"step {best['step']}", where, textcoords="offset points", xytext=(6, 6))
        ax.set(xlabel="step", ylabel=key, title=f"{name} during training")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
    return out


def _strip(run_dir: Path) -> list[Path]:
    """Up to STRIP_MAX fixed-z grids, evenly spaced over the run, last one included."""
    grids = sorted((run_dir / "samples").glob("step-*.png"))
    if len(grids) <= STRIP_MAX:
        return grids
    picks = {round(i * (len(grids) - 1) / (STRIP_MAX - 1)) for i in range(STRIP_MAX)}
    return [grids[i] for i in sorted(picks)]


def _img(src: Path, run_dir: Path, caption: str) -> str:
    rel = src.relative_to(run_dir).as_posix()
    cap = html.escape(caption)
    return (
        f'<figure><img src="{html.escape(rel)}" alt="{cap}"><figcaption>{cap}</figcaption></figure>'
    )


def _health(rows: list[dict], assets: Path, run_dir: Path) -> list[str]:
    """The watchdog's panel: its alarms, and its signals over time with them marked."""
    health = logged(rows, "health")
    if not health:
        return []
    alarms = logged(rows, "alarm")
    rollbacks = [r["step"] for r in logged(rows, "rollback")]
    marks = [(a["step"], a["name"]) for a in alarms]
    figure = plot_health(health, marks, rollbacks, assets / "health.png")
    lines = [f"{Alarm.from_dict(a).line()} [{a.get('action', '')}]" for a in alarms]
    said = [f"<li>{html.escape(line)}</li>" for line in lines]
    parts = ["<h2>Health (the training watchdog, paper §7)</h2>"]
    parts.append(f"<ul>{''.join(said)}</ul>" if said else "<p>no alarm was raised</p>")
    return [*parts, _img(figure, run_dir, "signals by step; alarms in red, rollbacks in grey")]


def write_report(run_dir: str | Path, config: ReportConfig | None = None, **options: Any) -> Path:
    """Write `report.html` (and its PNGs under `report/`) for a run directory; `options` are
    ReportConfig's fields."""
    n = configure(ReportConfig, config, options).n
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise DcganError(f"{run_dir} is not a run directory (no config.json)")
    find_checkpoint(run_dir)  # a clear error when there is none
    assets = run_dir / "report"
    config = json.loads((run_dir / "config.json").read_text())
    rows = read_stats(run_dir)
    evals = eval_rows(rows)
    model = load(run_dir)
    parts = [f"<h1>DCGAN run {html.escape(run_dir.name)}</h1>"]
    parts.append(f"<p>step {model.step}; checkpoint {html.escape(str(model.path))}</p>")

    if evals:
        parts.append("<h2>Sample quality during training</h2><ul>")
        for name, ev in evals.items():
            key, b = METRICS[name].primary, best_of(name, ev)
            parts.append(
                f"<li>{name}: best {b[key]:.4g} at step {b['step']}"
                f" (last {ev[-1][key]:.4g} at step {ev[-1]['step']})</li>"
            )
        parts.append("</ul>")
        parts.append(_img(plot_metrics(evals, assets / "metrics.png"), run_dir, "metrics"))
    losses = plot_training(run_dir, assets / "losses.png")
    if losses is not None:
        parts.append("<h2>Losses and discriminator outputs</h2>")
        parts.append(_img(losses, run_dir, "loss_D, loss_G, D(x), D(G(z)) by epoch"))

    parts += _health(rows, assets, run_dir)

    strip = _strip(run_dir)
    if strip:
        parts.append("<h2>Fixed z over training</h2><div class='strip'>")
        parts += [_img(p, run_dir, f"step {int(p.stem.split('-')[1])}") for p in strip]
        parts.append("</div>")

    parts.append("<h2>Final samples</h2><div class='strip'>")
    final = save_grid(sample(model, n=n), assets / "final.png")
    parts.append(_img(final, run_dir, f"latest (step {model.step}), seeds 0-{n - 1}"))
    if (run_dir / "best.pt").is_file():
        best = load(run_dir / "best.pt")
        grid = save_grid(sample(best, n=n), assets / "best.png")
        parts.append(_img(grid, run_dir, f"best.pt (step {best.step}), seeds 0-{n - 1}"))
    parts.append("</div>")

    z_dist = model.config.z_dist
    z = walk(z_from_seeds([0, 1], model.generator.config.nz, z_dist), WALK_STEPS)
    row = save_grid(generate(model.generator, z, z_dist=z_dist), assets / "walk.png", len(z))
    parts.append("<h2>Interpolation</h2>")
    parts.append(_img(row, run_dir, "linear walk in z from seed 0 to seed 1"))

    cells = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in _flat(config)
    )
    parts.append(f"<h2>Config</h2><table>{cells}</table>")
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(run_dir.name)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(parts)}</body></html>\n"
    )
    return atomic_write_text(run_dir / "report.html", page)
