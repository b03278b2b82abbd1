"""Named datasets (mnist, fashion-mnist, cifar10, svhn, celeba): read from a root folder
in torchvision's layout, downloaded there with torchvision when they cannot be read.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dcgan.data.arrays import read_cifar, read_idx, read_svhn_file
from dcgan.data.base import Options, Source, check_split
from dcgan.data.encoded import read_folder
from dcgan.errors import DcganError, UnsafeData


def read_named(name: str, path: Path, opt: Options) -> Source:
    """A dataset by name, read from `opt.root` in torchvision's layout and downloaded there
    with torchvision when it cannot be read. CelebA is every image of img_align_celeba (all
    partitions); its download needs the gdown package."""
    root, split = opt.root.expanduser(), opt.split
    if name != "celeba":
        check_split(split, ("train", "test", "extra") if name == "svhn" else ("train", "test"))
    train = {"train": split == "train"}
    t10k = "train" if split == "train" else "t10k"
    where, reader, dataset, kwargs = {
        "mnist": (root / "MNIST" / "raw", read_idx, "MNIST", train),
        "fashion-mnist": (root / "FashionMNIST" / "raw", read_idx, "FashionMNIST", train),
        "cifar10": (root / "cifar-10-batches-py", read_cifar, "CIFAR10", train),
        "svhn": (root / f"{split}_32x32.mat", read_svhn_file, "SVHN", {"split": split}),
        "celeba": (root / "celeba" / "img_align_celeba", read_folder, "CelebA", {"split": "all"}),
    }[name]
    try:
        return dataclasses.replace(reader(where, opt), format=name)
    except UnsafeData:
        raise  # a crafted file in the root is reported, not silently downloaded over
    except DcganError:
        pass
    files = {
        "mnist": f"{t10k}-images-idx3-ubyte.gz and {t10k}-labels-idx1-ubyte.gz",
        "cifar10": "the extracted cifar-10-python.tar.gz (data_batch_1..5, test_batch)",
        "svhn": where.name,
        "celeba": "the extracted img_align_celeba.zip (the .jpg files)",
    }[name.removeprefix("fashion-")]
    try:
        import torchvision.datasets

        getattr(torchvision.datasets, dataset)(str(root), download=True, **kwargs)
    except Exception as e:  # torchvision raises anything from URLError to RuntimeError
        reason = (str(e).splitlines() or [type(e).__name__])[0]
        place = where.parent if name == "svhn" else where
        raise DcganError(f"could not download {name} ({reason}): put {files} in {place}") from e
    return dataclasses.replace(reader(where, opt), format=name)


def read_svhn(path: Path, opt: Options) -> Source:
    """SVHN cropped digits (.mat: X is 32 x 32 x 3 x N, y in 1..10 where 10 is digit 0): the
    file, or a folder holding `<split>_32x32.mat`; the name "svhn" reads or downloads it."""
    split = check_split(opt.split, ("train", "test", "extra"))
    if not path.exists():
        return read_named("svhn", path, opt)
    return read_svhn_file(path if path.is_file() else path / f"{split}_32x32.mat", opt)
