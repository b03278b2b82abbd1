"""Measured `dcgan faces`: detection rate on real CelebA, false faces on MNIST/Fashion-MNIST.

CelebA (shared/data, one aligned face per image): the share of images with at least one
face kept, and with exactly one. MNIST test and Fashion-MNIST (1,000 images each): every
detection is a false face; they are searched at 28 px as given (below the default 48 px
minimum face, so trivially none) and upscaled 4x to 112 px, where a face of 48+ px could be
found. Writes bench/results/faces.json.

    PYTHONPATH=src python bench/faces.py
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from harness import SHARED, parse_args, results_path, write_results

from dcgan.experiments.detect import cascade
from dcgan.experiments.faces import CASCADE, detect_faces, faces
from dcgan.options import opt
from dcgan.options_data import FacesConfig


def false_faces(images: np.ndarray, config: FacesConfig) -> dict:
    detector = cascade(CASCADE)
    start = time.perf_counter()
    found = [len(detect_faces(image, config, detector)) for image in images]
    seconds = time.perf_counter() - start
    return {
        "images": len(images),
        "false_faces": int(sum(found)),
        "images_with_false_faces": int(sum(f > 0 for f in found)),
        "images_per_s": round(len(images) / seconds, 1),
    }


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    out: str = opt(str(results_path("faces")))


def main() -> None:
    args = parse_args(Args, __doc__)
    torch.set_num_threads(1)
    config = FacesConfig()
    with tempfile.TemporaryDirectory() as tmp:
        r = faces(SHARED / "celeba_aligned_00.tar", Path(tmp, "faces"), config)
    celeba = r.summary()
    celeba["detection_rate"] = round(1 - r.by_count["0"] / r.images, 4)
    celeba["exactly_one_rate"] = round(r.by_count["1"] / r.images, 4)
    mnist = np.load(SHARED / "mnist.npz")["x_test"][:1000]
    fashion = np.load(SHARED / "fashion_mnist_test_subset1000.npz")["x_test"][:1000]
    up = np.ones((4, 4), np.uint8)
    report = {
        "config": vars(config),
        "celeba": celeba,
        "mnist_28px": false_faces(mnist, config),
        "mnist_112px": false_faces(np.kron(mnist, up), config),
        "fashion_mnist_28px": false_faces(fashion, config),
        "fashion_mnist_112px": false_faces(np.kron(fashion, up), config),
        "threads": 1,
    }
    c = report["celeba"]
    print(
        f"CelebA: {c['images']} images, detection rate {c['detection_rate']:.4f}, "
        f"exactly one {c['exactly_one_rate']:.4f}, {c['faces']} faces, {c['images_per_s']} img/s"
    )
    for name in ("mnist_28px", "mnist_112px", "fashion_mnist_28px", "fashion_mnist_112px"):
        s = report[name]
        print(
            f"{name:20} {s['images']} images: {s['false_faces']} false faces, "
            f"{s['images_per_s']} img/s"
        )
    write_results(Path(args.out), report)


if __name__ == "__main__":
    main()
