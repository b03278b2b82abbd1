"""Copies of a photo as the web makes them, for bench/dedup_robust.py: SEEN kinds (the
robust hash is trained against them, at 32 px) and HELD-OUT kinds (never trained on, never
used to choose anything)."""

from __future__ import annotations

import io
import string

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

SEEN = {
    "jpeg": "JPEG re-encode at quality 15-40",
    "crop": "re-crop keeping 75-90 % of each side",
    "resize": "resize by 50-150 %",
    "brightness": "brightness and contrast +-25 %",
    "colour": "per-channel gains 80-120 %",
    "grayscale": "colour removed",
    "mirror": "mirrored left to right",
    "frame": "flat-colour border, 6-15 % of each side",
    "text": "a line of text overlaid",
    "rotate": "rotated 3-7 degrees, cropped to 85 %",
    "mirror+gray+crop+jpeg": "mirror, grayscale, 85-95 % crop, quality 30",
}
HELD_OUT = {
    "sepia": "sepia tint",
    "letterbox": "black bars padding to 16:9",
    "logo": "a semi-transparent logo in a corner",
    "caption": "a white caption bar with text above or below",
    "filter": "gamma, saturation and a vignette",
}


def _words(rng: np.random.Generator) -> str:
    letters = string.ascii_letters + string.digits
    return " ".join(
        "".join(rng.choice(list(letters), int(rng.integers(3, 8))))
        for _ in range(int(rng.integers(2, 4)))
    )


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def _apply(img: Image.Image, kind: str, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    if kind == "crop":
        cw, ch = (int(s * rng.uniform(0.75, 0.9)) for s in (w, h))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        return img.crop((x, y, x + cw, y + ch))
    if kind == "resize":
        f = rng.uniform(0.5, 1.5)
        return img.resize((round(w * f), round(h * f)), Image.Resampling.BICUBIC)
    if kind == "brightness":
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.75, 1.25))
        return ImageEnhance.Contrast(img).enhance(rng.uniform(0.75, 1.25))
    if kind == "colour":
        gains = rng.uniform(0.8, 1.2, 3)
        return Image.fromarray((np.asarray(img) * gains).clip(0, 255).astype(np.uint8))
    if kind == "grayscale":
        return img.convert("L").convert("RGB")
    if kind == "mirror":
        return ImageOps.mirror(img)
    if kind == "frame":
        return ImageOps.expand(img, int(min(w, h) * rng.uniform(0.06, 0.15)), _colour(rng))
    if kind == "text":
        draw = ImageDraw.Draw(img)
        font = ImageFont.load_default(size=int(rng.integers(14, 24)))
        ink = [(255, 255, 255), (0, 0, 0), (255, 230, 0)][int(rng.integers(3))]
        draw.text((rng.uniform(0, w * 0.3), rng.uniform(0, h * 0.85)), _words(rng), ink, font)
        return img
    if kind == "rotate":
        img = img.rotate(rng.uniform(3, 7) * rng.choice([-1, 1]), Image.Resampling.BICUBIC)
        return ImageOps.crop(img, (int(w * 0.075), int(h * 0.075)))
    if kind == "sepia":
        g = np.asarray(img.convert("L"), np.float32)[..., None] / 255
        tone = np.array([1.0, 0.85, 0.62]) * rng.uniform(0.9, 1.1)
        return Image.fromarray((255 * g * tone).clip(0, 255).astype(np.uint8))
    if kind == "letterbox":
        side = max(w, round(h * 16 / 9))
        out = Image.new("RGB", (side, h))
        out.paste(img, ((side - w) // 2, 0))
        return out
    if kind == "logo":
        size = int(w * rng.uniform(0.2, 0.3))
        mark = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        draw = ImageDraw.Draw(mark)
        alpha = int(rng.uniform(0.5, 0.8) * 255)
        draw.ellipse((0, 0, size - 1, size - 1), fill=(*_colour(rng), alpha))
        font = ImageFont.load_default(size=size // 3)
        draw.text(
            (size // 6, size // 3),
            "".join(rng.choice(list("ABCXYZ"), 2)),
            (255, 255, 255, alpha),
            font,
        )
        corner = [(4, 4), (w - size - 4, 4), (4, h - size - 4), (w - size - 4, h - size - 4)]
        img = img.convert("RGBA")
        img.alpha_composite(mark, corner[int(rng.integers(4))])
        return img.convert("RGB")
    if kind == "caption":
        bar = int(h * rng.uniform(0.12, 0.2))
        out = Image.new("RGB", (w, h + bar), (255, 255, 255))
        top = bool(rng.integers(2))
        out.paste(img, (0, bar if top else 0))
        font = ImageFont.load_default(size=max(10, bar // 2))
        ImageDraw.Draw(out).text((6, (0 if top else h) + bar // 4), _words(rng), (0, 0, 0), font)
        return out
    if kind == "filter":
        x = np.asarray(ImageEnhance.Color(img).enhance(rng.uniform(0.5, 1.5)), np.float32) / 255
        x = x ** rng.uniform(0.7, 1.4)
        yy, xx = np.mgrid[0:h, 0:w]
        r = np.hypot((xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2))
        x = x * (1 - rng.uniform(0.2, 0.4) * np.clip(r - 0.5, 0, None) ** 2)[..., None]
        return Image.fromarray((255 * x).clip(0, 255).astype(np.uint8))
    raise ValueError(kind)


def web_copy_of(img: Image.Image, kind: str, rng: np.random.Generator) -> bytes:
    """A copy of `img` of `kind` (ops joined by '+'), saved as JPEG (quality 90, or the
    re-encode's own quality)."""
    quality = 90
    ops = {"mirror+gray+crop+jpeg": ["mirror", "grayscale", "crop95"]}.get(kind, [kind])
    for op in ops:
        if op == "jpeg":
            quality = int(rng.integers(15, 41))
        elif op == "crop95":
            w, h = img.size
            cw, ch = (int(s * rng.uniform(0.85, 0.95)) for s in (w, h))
            x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            img, quality = img.crop((x, y, x + cw, y + ch)), 30
        else:
            img = _apply(img, op, rng)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
