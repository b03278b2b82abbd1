"""Optional dependencies, by the extra of pyproject.toml that installs them.

The core (`pip install dcgan`) trains and samples. A verb that needs more imports it through
`require`, which turns a missing module into one line naming the pip command.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from dcgan.errors import DcganError

# extra -> the top-level modules it brings (pyproject.toml's optional-dependencies)
EXTRAS: dict[str, tuple[str, ...]] = {
    "faces": ("cv2",),  # dcgan faces and the Haar-cascade detectors of the §6 verbs
    "export": ("onnx", "onnxscript", "onnxruntime", "safetensors"),  # dcgan export
    "metrics": ("torch_fidelity",),  # dcgan evaluate, train --eval-every, FID & co.
    "explore": (),  # dcgan explore: the standard library's HTTP server is enough
    # dcgan.experiments.landmarks (§6's pose and attribute detectors: turn, arithmetic --auto
    # glasses|mouth-open, forget --auto landmark-eyes): dlib, its 68-point predictor's
    # weights, and OpenCV's solvePnP (through dcgan[faces])
    "landmarks": ("dlib", "face_recognition_models", "cv2"),
}


def install_hint(extra: str) -> str:
    return f'pip install "dcgan[{extra}]"'


def require(extra: str, module: str) -> ModuleType:
    """`module` (of the optional dependencies of `extra`), imported; when it is missing, a
    one-line DcganError that says which extra to install."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}")
    try:
        return importlib.import_module(module)
    except ImportError as e:
        name = getattr(e, "name", None) or ""
        if name and (module == name or module.startswith(name + ".")):
            raise DcganError(f"{name} is not installed: {install_hint(extra)}") from None
        # installed but broken: a dependency of its own or a shared library is missing
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise DcganError(f"{module} does not import ({reason}): {install_hint(extra)}") from None
