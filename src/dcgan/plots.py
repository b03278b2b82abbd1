"""Plots of a run: loss curves and D's outputs from `stats.jsonl`, and the watchdog's
health signals with its alarms."""

from __future__ import annotations

import json
from pathlib import Path

from dcgan.io import write_output


def read_stats(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "stats.jsonl"
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            row = json.loads(line)
        except ValueError:  # a line cut short by a kill
            continue
        if isinstance(row, dict):  # a foreign line ([1, 2], "text") is no row
            rows.append(row)
    return rows


def plot_training(run_dir: str | Path, out: str | Path | None = None) -> Path | None:
    """Write `losses.png` (loss_D, loss_G and D(x), D(G(z)) against epochs); None if no stats
    (no plot is written then: an empty one would say nothing)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in read_stats(run_dir) if "loss_D" in r]  # not the eval rows
    if not rows:
        return None
    epoch = [r["epoch"] for r in rows]
    # A short run logs a few rows (one, say, under --log-every): a line through one point
    # draws nothing, so few points are also drawn as markers.
    style = {"lw": 1, "marker": "o" if len(rows) < 20 else None, "ms": 4}
    fig, (ax_loss, ax_d) = plt.subplots(1, 2, figsize=(10, 3.5), constrained_layout=True)
    ax_loss.plot(epoch, [r["loss_D"] for r in rows], label="loss D", **style)
    ax_loss.plot(epoch, [r["loss_G"] for r in rows], label="loss G", **style)
    ax_loss.set(xlabel="epoch", ylabel="BCE", title="losses")
    ax_d.plot(epoch, [r["D_x"] for r in rows], label="D(x)", **style)
    ax_d.plot(epoch, [r["D_G_z"] for r in rows], label="D(G(z))", **style)
    ax_d.set(xlabel="epoch", ylabel="mean sigmoid", title="discriminator outputs", ylim=(0, 1))
    for ax in (ax_loss, ax_d):
        ax.legend()
        ax.grid(alpha=0.3)
    out = Path(out) if out else Path(run_dir) / "losses.png"
    write_output(out, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
    return out


def plot_health(
    rows: list[dict], alarms: list[tuple[int, str]], rollbacks: list[int], out: str | Path
) -> Path | None:
    """Write the watchdog's signals against steps to `out` (sample diversity and the
    near-copy rate; the shares of G's filters that ignore z; D's running outputs), each
    alarm (step, name) a red line, each rollback step a grey one. None if no rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        return None
    step = [r["step"] for r in rows]
    style = {"lw": 1, "marker": "o" if len(rows) < 20 else None, "ms": 4}
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.5), constrained_layout=True)
    samples = (
        ("diversity", "diversity (D features)"),
        ("pixel_diversity", "diversity (pixels)"),
        ("near_copies", "near-copy rate"),
    )
    filters = (("filters_collapsed", "ignore z"), ("filters_oscillating", "ignore z and swing"))
    d_out = (("D_x_mean", "D(x)"), ("D_G_z_mean", "D(G(z))"))
    panels = (
        ("samples", samples),
        ("G's filters (paper §7)", filters),
        ("D's outputs (running means)", d_out),
    )
    for ax, (title, series) in zip(axes, panels, strict=True):
        for key, label in series:
            if any(key in r for r in rows):
                ax.plot(step, [r.get(key, float("nan")) for r in rows], label=label, **style)
        for at, _ in alarms:
            ax.axvline(at, color="tab:red", lw=1, ls="--")
        for at in rollbacks:
            ax.axvline(at, color="grey", lw=1, ls=":")
        ax.set(xlabel="step", title=title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if alarms:
        names = ", ".join(sorted({name for _, name in alarms}))
        fig.suptitle(f"alarms (red): {names}", color="tab:red")
    out = Path(out)
    write_output(out, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
    return out
