"""The explorer's generator side: one loaded model with BatchNorm frozen once, and the
requests it answers (samples, walks, arithmetic, directions) as lists of PNG data URLs.

Every method takes the request body as parsed JSON, validates it (`requests`) and returns
a JSON-ready dict. Generation is serialised by a lock: G is small, one forward pass takes
milliseconds, and a lock keeps 50 concurrent requests from oversubscribing the CPU's
threads while the server's other threads keep answering.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import threading
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from dcgan.conventions import truncate
from dcgan.errors import DcganError
from dcgan.experiments.latent import arithmetic
from dcgan.experiments.zfile import points_z, read_latents
from dcgan.explore import requests as rq
from dcgan.explore.directions import direction_from_record, load_direction
from dcgan.options import configure
from dcgan.options_tools import ExploreConfig
from dcgan.sampling import Loaded, load, to_uint8, walk, with_bn_mode

CONCEPTS = ("A", "B", "C")  # the explorer's arithmetic is the paper's A - B + C
WALK_MODES = ("lerp", "slerp")


def png_data_url(image: torch.Tensor) -> str:
    """One image (C, H, W) in [-1, 1] as a data: URL of a PNG."""
    array = to_uint8(image[None])[0].squeeze()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class Engine:
    """A model ready to answer the explorer's requests."""

    def __init__(
        self,
        checkpoint: str | Path,
        config: ExploreConfig | None = None,
        bn: str = "batch",
        ema: bool = True,
        **options: Any,
    ) -> None:
        """`options` are ExploreConfig's fields; the engine reads its directions."""
        self.config = configure(ExploreConfig, config, options)
        model = load(checkpoint, ema=ema)
        g = with_bn_mode(model.generator, bn, model.config.z_dist)  # frozen once
        # latent.arithmetic with bn="running" on the frozen G gives exactly `bn`'s images.
        self.model: Loaded = dataclasses.replace(model, generator=g)
        self.nz = g.config.nz
        self.bn = bn
        self.directions = dict(load_direction(p, self.nz) for p in self.config.directions)
        path = self.config.latents
        self.latents = read_latents(path, self.nz) if path else None  # rows p0, p1, ...
        self.rows = 0 if self.latents is None else len(self.latents)
        self.lock = threading.Lock()

    def info(self) -> dict[str, Any]:
        c = self.model.generator.config
        return {
            "checkpoint": str(self.model.path),
            "step": self.model.step,
            "size": c.size,
            "channels": c.channels,
            "nz": self.nz,
            "z_dist": self.model.config.z_dist,
            "bn": self.bn,
            "truncation": self.config.truncation,
            "directions": sorted(self.directions),
            "latents": self.rows,
            "limits": {
                "seed_max": rq.SEED_MAX,
                "images": rq.MAX_IMAGES,
                "frames": rq.MAX_FRAMES,
                "exemplars": rq.MAX_EXEMPLARS,
                "scale": rq.MAX_SCALE,
            },
        }

    def _z(self, seeds: list[int | str]) -> torch.Tensor:
        """The points' latents (seeds, or rows p<i> of --latents), truncated (samples, walks,
        a direction's start; the arithmetic panel shows paper §6.3.2's sums untruncated)."""
        z = points_z(seeds, self.nz, self.model.config.z_dist, self.latents)
        return truncate(z, self.config.truncation)

    def _images(self, z: torch.Tensor) -> list[str]:
        with self.lock, torch.no_grad():
            images = self.model.generator(z.float())
        return [png_data_url(x) for x in images]

    def samples(self, body: dict[str, Any]) -> dict[str, Any]:
        seeds = rq.points(rq.field(body, "seeds"), "seeds", 1, rq.MAX_IMAGES, self.rows)
        return {"seeds": seeds, "images": self._images(self._z(seeds))}

    def walk(self, body: dict[str, Any]) -> dict[str, Any]:
        """Frames through the seeds' latents, `steps` per segment, endpoints included."""
        seeds = rq.points(rq.field(body, "seeds"), "seeds", 2, 16, self.rows)
        mode = rq.choice(rq.field(body, "mode", "slerp"), "mode", WALK_MODES)
        most = (rq.MAX_FRAMES - 1) // (len(seeds) - 1)
        steps = rq.integer(rq.field(body, "steps", 8), "steps", 1, most)
        z = walk(self._z(seeds), steps, spherical=mode == "slerp")
        points = [i * steps for i in range(len(seeds))]
        return {"seeds": seeds, "mode": mode, "points": points, "images": self._images(z)}

    def arithmetic(self, body: dict[str, Any]) -> dict[str, Any]:
        """Paper §6.3.2 (Fig. 7): mean(A) - mean(B) + mean(C), its 8 neighbours, pixel space."""
        concepts = {
            c: rq.points(rq.field(body, c), c, 1, rq.MAX_EXEMPLARS, self.rows) for c in CONCEPTS
        }
        noise_seed = rq.seed(rq.field(body, "noise_seed", 0), "noise_seed")
        with self.lock:
            r = arithmetic(
                self.model,
                "A - B + C",
                concepts,
                noise_seed=noise_seed,
                bn="running",
                latents=self.config.latents,
            )
        return {
            "concepts": concepts,
            "exemplars": {c: [png_data_url(x) for x in r.exemplars[c]] for c in CONCEPTS},
            "means": {c: png_data_url(r.means[c]) for c in CONCEPTS},
            "y": [png_data_url(x) for x in r.y_images],  # Y first, then its neighbours
            "pixel": png_data_url(r.pixel),
            "noise": r.noise,
        }

    def direction(self, body: dict[str, Any]) -> dict[str, Any]:
        """Frames of z(seed) + t v for t evenly in [-scale, scale]; v named, given, or read
        from an uploaded record."""
        start = rq.seed(rq.field(body, "seed"))
        scale = rq.number(rq.field(body, "scale", 2.0), "scale", 0.0, rq.MAX_SCALE)
        frames = rq.integer(rq.field(body, "frames", 9), "frames", 2, rq.MAX_FRAMES)
        v = self._vector(body)
        t = torch.linspace(-scale, scale, frames)
        z = self._z([start]) + t[:, None] * torch.tensor(v)[None]
        return {
            "seed": start,
            "t": [round(x, 4) for x in t.tolist()],
            "vector": [round(x, 6) for x in v],
            "images": self._images(z),
        }

    def _vector(self, body: dict[str, Any]) -> list[float]:
        if "direction" in body:
            name = body["direction"]
            if not isinstance(name, str):
                raise rq.BadRequest(f"direction must be a name, got {str(name)[:40]}")
            if name not in self.directions:
                known = ", ".join(sorted(self.directions)) or "none (start with --direction)"
                raise rq.BadRequest(f"unknown direction {name!r}; known: {known}", 404)
            return self.directions[name]
        if "vector" in body:
            return rq.vector(body["vector"], "vector", self.nz)
        if "record" in body:
            try:
                found = direction_from_record(body["record"], self.nz)
            except DcganError as e:
                raise rq.BadRequest(str(e)) from None
            return rq.vector(found, "record", self.nz)  # the same bound as a vector
        raise rq.BadRequest("give one of 'direction', 'vector' or 'record'")
