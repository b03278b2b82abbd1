"""Paper §6.1 and §6.3.2: walks through z, a numbered contact sheet for
picking seeds by eye, and vector arithmetic on averaged latents with its pixel-space
baseline and its single-exemplar version."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from dcgan.conventions import sample_z, truncate
from dcgan.errors import DcganError
from dcgan.experiments.figures import (
    floats,
    frames,
    labelled,
    numbered_grid,
    png_path,
    save_gif,
    save_json,
    stack,
)
from dcgan.experiments.options import (
    ARITHMETIC_NEIGHBORS,
    ARITHMETIC_NOISE,
    SMILE_TEST_N,
    ArithmeticConfig,
    InterpolateConfig,
    SheetConfig,
    TurnConfig,
)
from dcgan.experiments.zfile import Point, latents, points_z, read_latents
from dcgan.options import configure
from dcgan.sampling import Loaded, generate, grid_image, save_png, walk

NOISE, NEIGHBORS = ARITHMETIC_NOISE, ARITHMETIC_NEIGHBORS


def _images(model: Loaded, z: torch.Tensor, bn: str) -> torch.Tensor:
    return generate(model.generator, z, bn, model.config.z_dist)


@dataclass
class Walk:
    """A path through the latents of `seeds`: `steps` frames per segment, endpoints included."""

    seeds: list[Point]
    steps: int
    spherical: bool
    z: torch.Tensor
    images: torch.Tensor

    def rows(self) -> torch.Tensor:
        """One row per segment, from one point to the next, both ends shown."""
        idx = [
            i * self.steps + j for i in range(len(self.seeds) - 1) for j in range(self.steps + 1)
        ]
        return self.images[idx]

    def save(self, out: str | Path) -> list[Path]:
        """The rows as a grid PNG, the whole walk as an animated GIF, and a JSON beside them."""
        png = png_path(out, "walk")
        record = {"seeds": self.seeds, "steps": self.steps, "spherical": self.spherical}
        return [
            save_png(grid_image(self.rows(), self.steps + 1), png),
            save_gif(frames(self.images, scale=2), png.with_suffix(".gif")),
            save_json(png.with_suffix(".json"), {**record, "z": floats(self.z)}),
        ]


def interpolate(
    model: Loaded,
    seeds: list[Point] | None = None,
    config: InterpolateConfig | None = None,
    bn: str = "batch",
    **options: Any,
) -> Walk:
    """Fig. 4: walk through the latents of `seeds` (default 0..points-1; "p<i>" is row i of
    the z file `latents`), lerp or slerp, truncated first (a walk between truncated points
    stays truncated); `options` are InterpolateConfig's fields."""
    c = configure(InterpolateConfig, config, options)
    seeds = list(range(c.points)) if seeds is None else list(seeds)
    if len(seeds) < 2:
        raise DcganError("a walk needs at least two seeds")
    z = walk(truncate(latents(model, seeds, c.latents), c.truncation), c.segment_steps, c.spherical)
    return Walk(seeds, c.segment_steps, c.spherical, z, _images(model, z, bn))


def sheet(
    model: Loaded,
    seeds: list[int] | None = None,
    config: SheetConfig | None = None,
    bn: str = "batch",
    nrow: int = 10,
    **options: Any,
) -> Image.Image:
    """A contact sheet of samples (seeds, default 0..n-1), each numbered with its seed, for
    picking exemplars; `options` are SheetConfig's fields."""
    c = configure(SheetConfig, config, options)
    seeds = list(range(c.n)) if seeds is None else list(seeds)
    images = _images(model, latents(model, seeds), bn)
    return numbered_grid(images, [str(s) for s in seeds], nrow)


def parse_expression(text: str) -> list[tuple[int, str]]:
    """'A - B + C' -> [(1, 'A'), (-1, 'B'), (1, 'C')]: single-letter concepts, + and -."""
    compact = text.replace(" ", "")
    if not re.fullmatch(r"[+-]?[A-Z]([+-][A-Z])*", compact):
        raise DcganError(f"bad expression {text!r}: use concepts A-Z joined by + and -, e.g. A-B+C")
    return [(-1 if s == "-" else 1, c) for s, c in re.findall(r"([+-]?)([A-Z])", compact)]


@dataclass
class Arithmetic:
    """Everything one arithmetic produced: exemplars, means, Y and its noisy neighbors."""

    terms: list[tuple[int, str]]
    concepts: dict[str, list[Point]]
    exemplars: dict[str, torch.Tensor]  # images of each concept's seeds
    means: dict[str, torch.Tensor]  # image of each concept's mean z
    z_means: dict[str, torch.Tensor]
    y: torch.Tensor  # (1 + neighbors, nz): Y, then Y + U[-noise, noise]
    y_images: torch.Tensor
    pixel: torch.Tensor  # the same arithmetic on the exemplars' pixels (the paper's baseline)
    single: torch.Tensor  # Y from the first exemplar of each concept, and its neighbors
    single_images: torch.Tensor
    noise: float
    noise_seed: int

    def record(self) -> dict:
        return {
            "expression": " ".join(f"{'-' if s < 0 else '+'} {c}" for s, c in self.terms),
            "concepts": self.concepts,
            "noise": self.noise,
            "noise_seed": self.noise_seed,
            "mean_z": {c: floats(z) for c, z in self.z_means.items()},
            "y": floats(self.y[0]),
            "y_neighbours": floats(self.y[1:]),
            "single_exemplar_y": floats(self.single[0]),
            "single_exemplar_neighbours": floats(self.single[1:]),
        }

    def figure(self) -> Image.Image:
        """Concepts (exemplars | mean) on top; Y with its neighbors, the pixel-space
        result and the single-exemplar result below."""
        top = [
            labelled(
                grid_image(torch.cat([self.exemplars[c], self.means[c][None]]), 4),
                f"{'-' if s < 0 else '+'} {c}: {','.join(map(str, self.concepts[c]))} | mean",
            )
            for s, c in self.terms
        ]
        bottom = [
            labelled(grid_image(_centred(self.y_images), 3), "= Y (centre), +-noise"),
            labelled(grid_image(self.pixel[None], 1), "pixel space"),
            labelled(grid_image(_centred(self.single_images), 3), "1 exemplar each"),
        ]
        return stack([stack(top), stack(bottom)], horizontal=False, gap=10)

    def save(self, out: str | Path) -> list[Path]:
        png = png_path(out, "arithmetic")
        return [save_png(self.figure(), png), save_json(png.with_suffix(".json"), self.record())]


def _centred(images: torch.Tensor) -> torch.Tensor:
    """Y first, then 8 neighbors -> a 3x3 order with Y in the middle."""
    return torch.cat([images[1:5], images[:1], images[5:]]) if len(images) == 9 else images


def neighbors(y: torch.Tensor, n: int = NEIGHBORS, noise: float = NOISE, seed: int = 0):
    """y (nz,) followed by n copies of y + U[-noise, noise]^nz: (1 + n, nz)."""
    u = sample_z(n, y.numel(), "uniform", torch.Generator().manual_seed(seed))
    return torch.cat([y[None], y[None] + noise * u])


def arithmetic(
    model: Loaded,
    expression: str,
    concepts: dict[str, list[Point]],
    config: ArithmeticConfig | None = None,
    bn: str = "batch",
    **options: Any,
) -> Arithmetic:
    """Fig. 7: Y = sum of +-mean(z of each concept's exemplar seeds), with neighbors; an
    exemplar "p<i>" is row i of the z file `latents`; `options` are ArithmeticConfig's fields."""
    c = configure(ArithmeticConfig, config, options)
    noise, noise_seed = c.noise, c.noise_seed
    terms = parse_expression(expression)
    missing = [c for _, c in terms if not concepts.get(c)]
    if missing:
        raise DcganError(f"no exemplar seeds for concept(s) {', '.join(missing)}")
    used = {c: list(concepts[c]) for _, c in terms}
    rows = read_latents(c.latents, model.generator.config.nz) if c.latents else None
    z = {
        t: points_z(s, model.generator.config.nz, model.config.z_dist, rows)
        for t, s in used.items()
    }
    z_means = {c: v.mean(0) for c, v in z.items()}
    y = neighbors(sum(s * z_means[t] for s, t in terms), c.neighbors, noise, noise_seed)
    single = neighbors(sum(s * z[t][0] for s, t in terms), c.neighbors, noise, noise_seed)
    # One pass through G for everything (the BatchNorm reference batch is set up once).
    parts = [*z.values(), torch.stack(list(z_means.values())), y, single]
    out = _images(model, torch.cat(parts), bn).split([len(p) for p in parts])
    exemplars = dict(zip(used, out[: len(used)], strict=True))
    means = dict(zip(used, out[len(used)], strict=True))
    pixel = sum(s * exemplars[c].mean(0) for s, c in terms).clamp(-1, 1)
    return Arithmetic(
        terms,
        used,
        exemplars,
        means,
        z_means,
        y,
        out[-2],
        pixel,
        single,
        out[-1],
        noise,
        noise_seed,
    )


def smile_concepts(model: Loaded, seeds: list[int], bn: str = "batch"):
    """Split `seeds` by OpenCV's cascades into (smiling faces, neutral faces); non-faces dropped."""
    from dcgan.experiments.detect import has_face, smiles

    images = _images(model, latents(model, seeds), bn)
    face, smile = has_face(images), smiles(images)
    smiling = [s for s, f, m in zip(seeds, face, smile, strict=True) if f and m]
    neutral = [s for s, f, m in zip(seeds, face, smile, strict=True) if f and not m]
    return smiling, neutral


def smile_test(
    model: Loaded,
    pool: int = 400,
    n: int = SMILE_TEST_N,
    first_test_seed: int = 100_000,
    bn: str = "batch",
) -> dict:
    """The smile vector (mean z of smiling minus neutral faces among seeds 0..pool-1) added to
    `n` other neutral faces, against a random vector of the same norm: smile-detection rates."""
    from dcgan.experiments.detect import SMILE_NEIGHBORS, smiles

    smiling, neutral = smile_concepts(model, list(range(pool)), bn)
    if len(smiling) < 3 or len(neutral) < 3:
        raise DcganError(f"only {len(smiling)} smiling and {len(neutral)} neutral faces found")
    v = latents(model, smiling).mean(0) - latents(model, neutral).mean(0)
    test: list[int] = []
    start = first_test_seed
    while len(test) < n and start < first_test_seed + 20 * n:
        test += smile_concepts(model, list(range(start, start + 100)), bn)[1]
        start += 100
    test = test[:n]
    z = latents(model, test)
    r = torch.randn(z.shape, generator=torch.Generator().manual_seed(0))
    r = r / r.norm(dim=1, keepdim=True) * v.norm()
    with_v, with_r = (smiles(_images(model, z + d, bn)) for d in (v, r))
    return {
        "pool": pool,
        "smiling": len(smiling),
        "neutral": len(neutral),
        "vector_norm": round(v.norm().item(), 4),
        "test_faces": len(test),
        "test_seeds": test,
        "smile_rate_with_vector": sum(with_v) / len(test),
        "smile_rate_with_random": sum(with_r) / len(test),
        "smile_min_neighbors": SMILE_NEIGHBORS,
        "smile_vector": floats(v),
    }


def auto_smile_concepts(model: Loaded, pool: int = 200, bn: str = "batch") -> dict[str, list[int]]:
    """Concepts for 'A - B + C' chosen by the cascades: A smiling, B and C neutral faces."""
    smiling, neutral = smile_concepts(model, list(range(pool)), bn)
    if len(smiling) < 3 or len(neutral) < 6:
        raise DcganError(f"only {len(smiling)} smiling and {len(neutral)} neutral faces found")
    return {"A": smiling[:3], "B": neutral[:3], "C": neutral[3:6]}


def turn(
    model: Loaded,
    config: TurnConfig | None = None,
    first_row_seed: int = 100_000,
    bn: str = "batch",
    **options: Any,
) -> tuple[torch.Tensor, dict]:
    """Fig. 8: turn vector = mean z of right- minus left-facing faces among seeds 0..pool-1;
    `rows` faces moved from z - scale*v to z + scale*v. Returns the rows' images and a record
    with `turn_success`, the share of rows that turn. By the pose of dlib's landmarks (the
    default, concepts.landmark_turn): the `ends` most turned faces each way, and a row turns
    when its yaw moves monotonically by >= 15 degrees. By the profile cascade on each image
    and its mirror: every face seen facing one way, and a row turns when its ends face
    opposite ways. `options` are TurnConfig's fields."""
    from dcgan.experiments.detect import facing

    c = configure(TurnConfig, config, options)
    if c.pose == "landmarks":
        from dcgan.experiments.concepts import landmark_turn

        return landmark_turn(model, c, first_row_seed, bn)
    pool, rows, frames, scale = c.pool, c.rows, c.frames, c.scale

    seeds = list(range(pool))
    pose = facing(_images(model, latents(model, seeds), bn))
    left = [s for s, p in zip(seeds, pose, strict=True) if p < 0]
    right = [s for s, p in zip(seeds, pose, strict=True) if p > 0]
    if len(left) < 3 or len(right) < 3:
        raise DcganError(f"only {len(left)} left- and {len(right)} right-facing faces found")
    v = latents(model, right).mean(0) - latents(model, left).mean(0)
    row_seeds = list(range(first_row_seed, first_row_seed + rows))
    t = torch.linspace(-scale, scale, frames)
    z = (latents(model, row_seeds)[:, None] + t[None, :, None] * v).flatten(0, 1)
    images = _images(model, z, bn)
    ends = facing(images.view(rows, frames, *images.shape[1:])[:, [0, -1]].flatten(0, 1))
    turned = [a * b < 0 for a, b in zip(ends[::2], ends[1::2], strict=True)]
    record = {
        "pose": "profile",
        "left": left,
        "right": right,
        "row_seeds": row_seeds,
        "scale": scale,
        "vector_norm": round(v.norm().item(), 4),
        "ends_facing": [ends[::2], ends[1::2]],
        "turn_success": sum(turned) / rows,
        "turn_vector": floats(v),
    }
    return images, record
