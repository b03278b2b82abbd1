"""`dcgan project` on the DigiFace face generator (issue 31): photos into z.

(a) Recovery: G's own samples, whose z is known, projected back: pixel error of G(z found)
    and how close z comes (cosine, distance), against the best of N random z.
(b) Real photos: CelebA faces, which the DigiFace model never saw, projected: pixel error and
    identity distance with dlib's face-recognition ResNet (face-recognition-models), against
    the best of N random z by the same pixel distance. For scale: the identity distance of
    two real photos of one person, and of two different people.
(c) Paper §6.3.2 on projected photos: the glasses vector of docs/digiface.md (3 generated
    exemplars with glasses minus 3 without) added to projected faces without glasses, the
    glasses detector's rate against random vectors of its norm, as bench/digiface_latent.py.

Phases: `--phase dev` tries settings (lr, norm weight, an encoder start) on development
images (seeds 5,000,000+ and CelebA train-partition photos) and writes the choice;
`--phase held-out` uses that choice on held-out images (seeds 6,000,000+ and CelebA
test-partition photos, one per person). bench/project_celeba.py runs (a) and (b) with this
choice on a CelebA DCGAN trained by the toolkit.

Run: python bench/project_faces.py (both phases; or --phase dev, then --phase held-out)
(writes bench/results/project_faces_dev.json, bench/results/project_faces.json and
docs/project_faces.png).
"""

from __future__ import annotations

import functools
import io
import json
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from harness import (
    ROOT,
    SHARED,
    converted,
    parse_args,
    print_table,
    results_path,
    shrink,
    write_results,
)
from PIL import Image

from dcgan.conventions import sample_z, to_unit_range
from dcgan.data.images import convert_image
from dcgan.experiments.figures import labelled, stack
from dcgan.experiments.landmarks import faces, models_folder
from dcgan.experiments.latent import latents
from dcgan.experiments.project import project
from dcgan.extras import require
from dcgan.options import opt
from dcgan.sampling import generate, grid_image, save_png

BN = "running"  # the DigiFace model's samples use its running statistics (docs/digiface.md)
GLASSES_WITH, GLASSES_WITHOUT = [135, 261, 546], [82, 216, 249]  # digiface_latent.json
DEV_SEED, HELD_SEED = 5_000_000, 6_000_000
TEST_FIRST = 182_638  # CelebA's test partition starts here; train ends at 162,770
# CelebA's aligned 178 x 218 photos cropped to a 140 px square around the face, to the
# framing of DigiFace's samples (chosen by eye from the sample sheet, before any measure).
FACE_BOX = (19, 50, 159, 190)
GRID = [(lr, nw) for lr in (0.02, 0.1) for nw in (0.0, 0.1, 1.0)]


@dataclass
class Args:
    phase: Literal["dev", "held-out", "all"] = opt("all", "all: dev, then held-out")
    n: int = opt(16, "images of each kind (dev uses half)")
    restarts: int = opt(4)
    search_steps: int = opt(200)
    dev_steps: int = opt(100, "search steps of each dev setting")
    random_n: int = opt(512, "random z of the control; the closest is kept")
    encoder_steps: int = opt(300, "steps of the encoder tried on dev")
    draws: int = opt(8, "random vectors of the glasses control")
    weights: str = opt(str(SHARED / "pretrained/digiface64_dcgan/weights.tar"))
    celeba: str = opt(str(SHARED / "celeba_aligned_00.tar"))
    identities: str = opt(str(SHARED / "identity_CelebA.txt"))
    threads: int = opt(1)


def mean_std(values) -> dict:
    a = np.asarray(values, dtype=float)
    return {"mean": round(float(a.mean()), 4), "std": round(float(a.std()), 4), "n": len(a)}


# --- data ----------------------------------------------------------------------------------


def celeba(path: str, identity_file: str) -> list[tuple[int, int, bytes]]:
    """(number, identity, JPEG bytes) of every photo of the tar."""
    ids = {}
    for line in Path(identity_file).read_text().splitlines():
        name, ident = line.split()
        ids[int(name[:6])] = int(ident)
    out = []
    with tarfile.open(path) as tf:
        for m in tf.getmembers():
            number = int(Path(m.name).stem)
            out.append((number, ids[number], tf.extractfile(m).read()))
    return out


def photos(items: list[tuple[int, int, bytes]]) -> torch.Tensor:
    """Cropped to FACE_BOX, then as `dcgan project` reads an image: 64 px, [-1, 1]."""
    arrays = []
    for *_, b in items:
        face = np.asarray(Image.open(io.BytesIO(b)).convert("RGB").crop(FACE_BOX))
        arrays.append(torch.from_numpy(convert_image(face, 64, 3)))
    return to_unit_range(torch.stack(arrays))


def one_per_person(items, n: int) -> list:
    seen, out = set(), []
    for item in items:
        if item[1] not in seen:
            seen.add(item[1])
            out.append(item)
    return out[:n]


# --- identity with dlib's face-recognition ResNet ------------------------------------------


@functools.cache
def _dlib():
    dlib, models = require("landmarks", "dlib"), models_folder()
    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat")),
        dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat")),
    )


SIDE = 160  # 64 px images enlarged before dlib (its chips are 150 px)


def _big(images: torch.Tensor) -> list[np.ndarray]:
    arrays = ((images.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    return [np.asarray(Image.fromarray(a).resize((SIDE, SIDE), Image.BICUBIC)) for a in arrays]


def boxes(images: torch.Tensor) -> list:
    """dlib's face box of each photo, or None."""
    detector, _, _ = _dlib()
    out = []
    for a in _big(images):
        found = detector(a, 1)
        out.append(max(found, key=lambda r: r.area()) if len(found) else None)
    return out


def descriptors(images: torch.Tensor, face_boxes: list) -> list[np.ndarray | None]:
    """128-d identity descriptors, each image aligned in the box of its photo."""
    _, predictor, net = _dlib()
    out = []
    for a, box in zip(_big(images), face_boxes, strict=True):
        if box is None:
            out.append(None)
            continue
        out.append(np.array(net.compute_face_descriptor(a, predictor(a, box))))
    return out


def identity_distances(a: list, b: list) -> list[float]:
    pairs = zip(a, b, strict=True)
    return [float(np.linalg.norm(x - y)) for x, y in pairs if x is not None and y is not None]


# --- the measures --------------------------------------------------------------------------


def best_random(
    model, targets: torch.Tensor, n: int, seed: int, bn: str = BN
) -> tuple[torch.Tensor, torch.Tensor]:
    """The control: of n random z from the prior, the one whose image is closest in pixels,
    per target."""
    dist = model.config.z_dist
    z = sample_z(n, model.generator.config.nz, dist, torch.Generator().manual_seed(seed))
    images = generate(model.generator, z, bn, dist)
    d = torch.cdist(targets.flatten(1), images.flatten(1)).pow(2) / targets[0].numel()
    best = d.argmin(1)
    return z[best], images[best]


def pixel_mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).pow(2).flatten(1).mean(1)


def recovery(model, seeds: list[int], settings: dict, random_n: int, bn: str = BN) -> dict:
    z_true = latents(model, seeds)
    x = generate(model.generator, z_true, bn, model.config.z_dist)
    p = project(model, x, bn=bn, **settings)
    z_rand, x_rand = best_random(model, x, random_n, 1, bn)

    def z_stats(z: torch.Tensor) -> dict:
        cos = torch.nn.functional.cosine_similarity(z, z_true, dim=1)
        return {
            "z_cosine": mean_std(cos),
            "z_distance_over_sqrt_nz": mean_std((z - z_true).norm(dim=1) / z_true.shape[1] ** 0.5),
        }

    return {
        "seeds": [seeds[0], seeds[-1]],
        "projected": {"pixel_mse": mean_std(pixel_mse(p.images, x)), **z_stats(p.z)},
        "best_of_random": {"pixel_mse": mean_std(pixel_mse(x_rand, x)), **z_stats(z_rand)},
    }


def real(
    model, items: list, settings: dict, random_n: int, others: dict, bn: str = BN, prepare=None
) -> tuple[dict, object]:
    """`prepare` turns tar items into the model's photos (default: `photos`)."""
    prepare = prepare or photos
    x = prepare(items)
    p = project(model, x, bn=bn, **settings)
    _, x_rand = best_random(model, x, random_n, 2, bn)
    face_boxes = boxes(x)
    d_photo = descriptors(x, face_boxes)
    ident = {
        "projected": identity_distances(d_photo, descriptors(p.images, face_boxes)),
        "best_of_random": identity_distances(d_photo, descriptors(x_rand, face_boxes)),
    }
    record = {
        "photos": [n for n, *_ in items],
        "faces_found_in_photos": sum(b is not None for b in face_boxes),
        "projected": {"pixel_mse": mean_std(pixel_mse(p.images, x))},
        "best_of_random": {"pixel_mse": mean_std(pixel_mse(x_rand, x))},
    }
    for k, v in ident.items():
        record[k]["identity_distance"] = mean_std(v)
        record[k]["same_person_rate"] = round(float(np.mean(np.array(v) < 0.6)), 4)
    if others:  # the scale: real pairs of one person and of two people
        for name, pair in others.items():
            y = prepare(pair)
            d = identity_distances(d_photo, descriptors(y, boxes(y)))
            record[name] = {"identity_distance": mean_std(d) if d else None}
    return record, (x, p, x_rand)


def glasses(model, p, draws: int) -> tuple[dict, torch.Tensor]:
    """§6.3.2 on the projected photos whose G(z) the detector finds without glasses."""
    v = latents(model, GLASSES_WITH).mean(0) - latents(model, GLASSES_WITHOUT).mean(0)
    found = faces(p.images)
    keep = [i for i, f in enumerate(found) if f.found and not f.glasses]
    z = p.z[keep]

    def rate(d: torch.Tensor) -> float:
        return float(
            np.mean([f.glasses for f in faces(generate(model.generator, z + d, BN, "normal"))])
        )

    control = []
    for k in range(draws):
        r = torch.randn(len(z), v.numel(), generator=torch.Generator().manual_seed(1000 + k))
        control.append(rate(r / r.norm(dim=1, keepdim=True) * v.norm()))
    with_v = rate(v)
    shown = generate(model.generator, p.z + v, BN, "normal")
    return {
        "test_faces": len(keep),
        "rate_with_vector": round(with_v, 4),
        "rate_with_random": mean_std(control),
        "vector": "glasses: mean z of seeds 135,261,546 minus 82,216,249 (docs/digiface.md)",
    }, shown


# --- phases --------------------------------------------------------------------------------


def dev(model, args: Args, data: list) -> dict:
    half = max(2, args.n // 2)
    seeds = list(range(DEV_SEED, DEV_SEED + half))
    items = [it for it in data if it[0] < TEST_FIRST][:half]
    rows, table = [], []

    def trial(v: dict) -> dict:
        settings = {"search_steps": args.dev_steps, "restarts": 2, **v}
        t = time.monotonic()
        rec = recovery(model, seeds, settings, args.random_n)
        photo = pixel_mse(*_real_pixels(model, items, settings))
        rows.append({**settings, "recovery": rec["projected"], "photo_pixel_mse": mean_std(photo)})
        table.append(
            [
                v["lr"],
                v["norm_weight"],
                v.get("encoder_steps", 0),
                rec["projected"]["pixel_mse"]["mean"],
                rec["projected"]["z_cosine"]["mean"],
                round(float(photo.mean()), 4),
                round(time.monotonic() - t),
            ]
        )
        print_table(["lr", "norm w", "encoder", "recovery mse", "z cos", "photo mse", "s"], table)
        return rows[-1]

    for lr, nw in GRID:
        trial({"lr": lr, "norm_weight": nw})
    # The choice: the lowest photo error, ties to recovery; the encoder only if it helps both.
    best = min(
        rows, key=lambda r: (r["photo_pixel_mse"]["mean"], r["recovery"]["pixel_mse"]["mean"])
    )
    choice = {"lr": best["lr"], "norm_weight": best["norm_weight"]}
    enc = trial({**choice, "encoder_steps": args.encoder_steps})
    if (
        enc["photo_pixel_mse"]["mean"] < best["photo_pixel_mse"]["mean"]
        and enc["recovery"]["pixel_mse"]["mean"] < best["recovery"]["pixel_mse"]["mean"]
    ):
        choice["encoder_steps"] = args.encoder_steps
    return {
        "dev_seeds": [seeds[0], seeds[-1]],
        "dev_photos": [it[0] for it in items],
        "variants": rows,
        "choice": choice,
    }


def _real_pixels(model, items, settings):
    x = photos(items)
    return project(model, x, bn=BN, **settings).images, x


def held_out_photos(data: list, n: int) -> tuple[list, dict[str, list]]:
    """`n` test-partition photos, one per person, and the scale pairs of each: another photo
    of the same person, and a test photo of someone else."""
    test = one_per_person([it for it in data if it[0] >= TEST_FIRST], n)
    by_person: dict[int, list] = {}
    for it in data:
        by_person.setdefault(it[1], []).append(it)
    same = [next(o for o in by_person[it[1]] if o[0] != it[0]) for it in test]
    other = [
        next(o for o in data if o[1] != it[1] and o[0] >= TEST_FIRST and o not in test)
        for it in test
    ]
    return test, {"real_same_person": same, "real_other_person": other}


def held_out(model, args: Args, data: list, choice: dict) -> dict:
    settings = {"search_steps": args.search_steps, "restarts": args.restarts, **choice}
    seeds = list(range(HELD_SEED, HELD_SEED + args.n))
    rec = recovery(model, seeds, settings, args.random_n)
    test, others = held_out_photos(data, args.n)
    photo, (x, p, x_rand) = real(model, test, settings, args.random_n, others)
    g_rec, shown = glasses(model, p, args.draws)
    k = min(8, len(x))
    figure = stack(
        [
            labelled(grid_image(x[:k], k), "CelebA photo (held out)"),
            labelled(grid_image(p.images[:k], k), "projected: G(z)"),
            labelled(grid_image(x_rand[:k], k), f"best of {args.random_n} random z"),
            labelled(grid_image(shown[:k], k), "G(z + glasses vector)"),
        ],
        horizontal=False,
        gap=4,
    )
    path = save_png(figure, ROOT / "docs" / "project_faces.png")
    shrink(path)
    return {
        "settings": settings,
        "recovery": rec,
        "real_photos": photo,
        "glasses": g_rec,
        "figure": "docs/project_faces.png",
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, __doc__, argv)
    for f in (args.weights, args.celeba, args.identities):
        if not Path(f).is_file():
            print(f"{f} is absent", file=sys.stderr)
            return 2
    torch.set_num_threads(args.threads)
    start = time.monotonic()
    model = converted(args.weights)
    data = celeba(args.celeba, args.identities)
    record = {
        "model": "DigiFace-1M DCGAN (pytorch/examples layout), 64 px, z ~ N(0, I), no D",
        "distance": "pixels (the model has no D)",
        "bn": BN,
        "args": vars(args),
    }
    if args.phase in ("dev", "all"):
        dev_record = {**record, **dev(model, args, data)}
        dev_record["seconds"] = round(time.monotonic() - start)
        print(f"written to {write_results('project_faces_dev', dev_record)}")
    if args.phase in ("held-out", "all"):
        choice = json.loads(results_path("project_faces_dev").read_text())["choice"]
        record.update(held_out(model, args, data, choice))
        print(json.dumps({k: record[k] for k in ("recovery", "real_photos", "glasses")}, indent=1))
        record["seconds"] = round(time.monotonic() - start)
        print(f"written to {write_results('project_faces', record)} in {record['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
