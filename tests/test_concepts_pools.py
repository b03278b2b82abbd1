"""The exemplar rule for any k and the control vectors of bench/digiface_pools.py
(dcgan.experiments.concepts), on made-up labels and a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import train_tiny

from dcgan.errors import DcganError
from dcgan.experiments import concepts
from dcgan.experiments.concepts import attribute_concepts, disjoint_draw, ranked, top_exemplars
from dcgan.experiments.landmarks import Face
from dcgan.experiments.zfile import latents
from dcgan.sampling import load


def face(found: bool = True, mouth: float = 0.0, bridge: float = 0.0) -> Face:
    return Face(np.zeros((68, 2)), found, 0.0, mouth, bridge)


BRIDGES = [0.9, 0.1, 0.5, 0.2, 0.7, 0.05, 0.3, 0.6, 0.0, 0.15, 0.99]


def test_top_k_is_the_verbs_rule_for_any_k() -> None:
    found = [face(bridge=b) for b in BRIDGES]
    found[-1] = face(found=False, bridge=0.99)  # unfound faces are never exemplars
    seeds = list(range(100, 111))
    with_a, without = ranked(seeds, found, "glasses")
    assert with_a == [100, 104, 107, 102]  # bridge > 0.45, the strongest first
    assert without == [108, 105, 101, 109, 103, 106]  # the weakest first
    c = attribute_concepts(seeds, found, "glasses")
    assert top_exemplars(seeds, found, "glasses", 3) == {"A": c["A"], "B": c["B"]}
    assert top_exemplars(seeds, found, "glasses", 1) == {"A": [100], "B": [108]}
    with pytest.raises(DcganError, match="only 4 faces with glasses and 6 without"):
        top_exemplars(seeds, found, "glasses", 5)
    mouths = [face(mouth=m) for m in (0.1, 0.5, 0.35, 0.0)]
    assert ranked([0, 1, 2, 3], mouths, "mouth-open") == ([1, 2], [3, 0])


def test_disjoint_draws_are_disjoint_and_reproducible() -> None:
    seeds = list(range(50, 90))
    a, b = disjoint_draw(seeds, 20, np.random.default_rng(3))
    assert len(a) == len(b) == 20 and not set(a) & set(b) and set(a) | set(b) == set(seeds)
    assert [a, b] == disjoint_draw(seeds, 20, np.random.default_rng(3))
    assert [a, b] != disjoint_draw(seeds, 20, np.random.default_rng(4))
    assert all(type(s) is int for s in a)  # seeds the z functions accept
    with pytest.raises(DcganError, match="2 sets of 21 need 42 seeds"):
        disjoint_draw(seeds, 21, np.random.default_rng(0))


def test_mean_difference_and_its_rescaling(tmp_path) -> None:
    model = load(train_tiny(tmp_path))
    v = concepts.mean_difference(model, [1, 2, 3], [4, 5, 6])
    z = latents(model, [1, 2, 3, 4, 5, 6])
    torch.testing.assert_close(v, z[:3].mean(0) - z[3:].mean(0))
    w = concepts.mean_difference(model, [1, 2, 3], [4, 5, 6], norm=2.5)
    torch.testing.assert_close(w.norm(), torch.tensor(2.5))
    torch.testing.assert_close(w / w.norm(), v / v.norm())
