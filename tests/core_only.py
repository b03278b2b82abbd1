"""A prelude for `python -c` that makes the extras' modules unfindable, as in a core-only
install (`pip install dcgan` without extras). The import system simply finds no such
module, so `import cv2` raises ModuleNotFoundError and `importlib.util.find_spec` answers
None, as they would if the package were absent."""

from __future__ import annotations

from dcgan.extras import EXTRAS

BLOCKED = sorted(m for modules in EXTRAS.values() for m in modules)

PRELUDE = f"""
import sys
from importlib.machinery import PathFinder

BLOCKED = {set(BLOCKED)!r}


class CoreOnly(PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            return None
        return super().find_spec(name, path, target)


sys.meta_path = [CoreOnly if f is PathFinder else f for f in sys.meta_path]
"""
