"""The reference shapes and the ripple count that benches and tests judge optima by
(`bench/reference_shapes.py`)."""

from __future__ import annotations

import numpy as np

from bench.reference_shapes import flank_inflections


def test_flank_inflections_count_ripples_and_not_a_smooth_body():
    theta = np.linspace(0.0, 2 * np.pi, 4000, endpoint=False)
    ellipse = np.column_stack([2.0 * np.cos(theta), 0.5 * np.sin(theta)])
    assert flank_inflections(ellipse) == 0
    rippled = np.column_stack([2.0 * np.cos(theta), 0.5 * np.sin(theta) * (1 + 0.2 * np.cos(8 * theta))])
    # cos 8θ puts four waves on each flank's middle 70 %: a curvature sign change at each turn of them.
    assert flank_inflections(rippled) >= 8
