"""How the experiments write their outputs: where files go, labelled panels, GIFs, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from dcgan.io import write_output
from dcgan.sampling import grid_image

LABEL_H = 12
BG = (255, 255, 255)


def png_path(out: str | Path, name: str) -> Path:
    """`out` itself when it names a .png file, else `out/<name>.png` (a directory)."""
    out = Path(out)
    return out if out.suffix.lower() == ".png" else out / f"{name}.png"


def floats(z: torch.Tensor) -> list:
    """A tensor as nested lists of floats rounded for a readable JSON."""
    return [round(float(v), 6) for v in z] if z.dim() == 1 else [floats(r) for r in z]


def save_json(path: str | Path, record: dict) -> Path:
    text = json.dumps(record, indent=1) + "\n"
    return write_output(path, lambda f: f.write(text), mode="w")


def save_gif(frames: list[Image.Image], path: str | Path, ms: int = 100) -> Path:
    """An animated GIF that loops forever, written atomically."""
    first, *rest = [f.convert("RGB") for f in frames]
    return write_output(
        path,
        lambda f: first.save(
            f, format="GIF", save_all=True, append_images=rest, duration=ms, loop=0
        ),
    )


def frames(images: torch.Tensor, scale: int = 1) -> list[Image.Image]:
    """One PIL image per image in [-1, 1], enlarged `scale` times (nearest neighbour)."""
    out = []
    for x in images:
        im = grid_image(x[None], nrow=1, padding=0).convert("RGB")
        out.append(im.resize((im.width * scale, im.height * scale), Image.NEAREST))
    return out


def labelled(image: Image.Image, label: str) -> Image.Image:
    """`image` under a one-line caption."""
    out = Image.new("RGB", (max(image.width, 6 * len(label)), image.height + LABEL_H), BG)
    ImageDraw.Draw(out).text((1, 0), label, fill=(0, 0, 0))
    out.paste(image.convert("RGB"), (0, LABEL_H))
    return out


def stack(images: list[Image.Image], horizontal: bool = True, gap: int = 6) -> Image.Image:
    """Images side by side (or one under another), top/left aligned, white between."""
    if horizontal:
        size = (
            sum(i.width for i in images) + gap * (len(images) - 1),
            max(i.height for i in images),
        )
    else:
        size = (
            max(i.width for i in images),
            sum(i.height for i in images) + gap * (len(images) - 1),
        )
    out, at = Image.new("RGB", size, BG), 0
    for im in images:
        out.paste(im.convert("RGB"), (at, 0) if horizontal else (0, at))
        at += (im.width if horizontal else im.height) + gap
    return out


def numbered_grid(images: torch.Tensor, labels: list[str], nrow: int) -> Image.Image:
    """A contact sheet: each image with its label under it."""
    tiles = [labelled(f, t) for f, t in zip(frames(images), labels, strict=True)]
    w, h = max(t.width for t in tiles) + 2, tiles[0].height + 2
    rows = -(-len(tiles) // nrow)
    out = Image.new("RGB", (nrow * w, rows * h), BG)
    for i, t in enumerate(tiles):
        out.paste(t, ((i % nrow) * w, (i // nrow) * h))
    return out
