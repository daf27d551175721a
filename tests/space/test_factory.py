"""The design-space factory and the contract every space keeps: no mesh, no solver."""

from __future__ import annotations

import numpy as np
import pytest

from shapeopt.cases import load_case
from shapeopt.designs import body_shapes
from shapeopt.geometry.radial_map import RadialMap
from shapeopt.space import BodiesDesignSpace, DesignSpace, RadialDesignSpace, design_space
from shapeopt.space.radial import REACH_ANGLES
from tests.helpers import CASES
from tests.space.test_radial import circle_body


def space_of(case_name: str, reach: float = 1.0) -> DesignSpace:
    """The case's design space on circles about its bodies' centres, each reaching at most `reach`."""
    case = load_case(CASES / case_name)
    shapes = body_shapes(case)
    return design_space(case, [circle_body(shape) for shape in shapes], [reach] * len(shapes))


def test_the_factory_builds_one_body_or_several():
    assert type(space_of("cylinder-re40.toml")) is RadialDesignSpace
    tandem = space_of("tandem-re20.toml")
    assert type(tandem) is BodiesDesignSpace and len(tandem.parts) == 2 and tandem.size == 32
    assert space_of("sphere.toml").revolution and not space_of("cylinder-re40.toml").revolution
    with pytest.raises(ValueError, match="2 bodies but 1 map radii"):
        case = load_case(CASES / "tandem-re20.toml")
        design_space(case, [circle_body(shape) for shape in body_shapes(case)], [1.0])


def test_a_space_missing_part_of_the_contract_cannot_be_built():
    class Partial(DesignSpace):
        def mappable(self, s: np.ndarray) -> np.ndarray:
            return np.ones(len(s), dtype=bool)

    with pytest.raises(TypeError, match="abstract"):
        Partial()


@pytest.mark.parametrize("case_name", ["cylinder-re40.toml", "tandem-re20.toml"])
def test_every_space_keeps_the_contract(case_name):
    space = space_of(case_name)
    s = np.zeros(space.size)
    area, ratio, centroid = space.measure(s)
    assert ratio == pytest.approx(1.0) and centroid.shape == (2,) and area > 0
    assert len(space.measure_bodies(s)) == (2 if case_name.startswith("tandem") else 1)
    assert space.boundary(s).shape[1] == 2 and isinstance(space.draw_version, str)
    assert space.with_min_thickness(0.0).min_thickness == 0.0 and isinstance(space.fix_centroid, bool)
    assert space.mappable(s[None])[0] and space.unmappable(s) is None


def test_the_space_says_why_the_mesh_map_cannot_hold_a_shape():
    one, two = space_of("fourier4-re40.toml"), space_of("tandem-re20.toml")
    big = np.zeros(one.size)
    big[0] = 1.5  # a0: the circle grown to r = 1.25 D, past the reach 1 D
    assert not one.mappable(big[None])[0]
    assert one.unmappable(big) == (
        "shape s=[1.5, 0, 0, 0, 0, 0, 0, 0, 0] reaches 1.25 D from its centre; "
        "the mesh map holds bodies up to 1 D"
    )
    pinched = np.zeros(two.size)
    pinched[16:] = -0.97  # the second body shrunk to a point
    assert two.unmappable(pinched).startswith("body 2 of shape s=[0, 0,")
    assert "is not a simple curve (min r/r0 = 0.030)" in two.unmappable(pinched)


def test_a_mesh_generated_for_a_body_that_reaches_out_lets_it_reach_further():
    """On a mesh generated for a shape the map reaches from that shape, r + ½ (R − r) in each direction
    (`RadialMap.reach`), where the reference mesh's map reaches r₀ + ½ (R − r₀) everywhere."""
    case = load_case(CASES / "fourier4-re40.toml")
    (shape,) = body_shapes(case)
    radial_map = RadialMap(shape.r0, 1.5)  # reaches 1 D from the reference circle
    fitted, grown = np.zeros(shape.size), np.zeros(shape.size)
    fitted[0], grown[0] = 0.8, 1.3  # the circle grown to r = 0.9 D, and to 1.15 D
    limits = radial_map.reach(shape.radius(REACH_ANGLES, fitted))
    assert radial_map.max_body_radius == 1.0 and np.allclose(limits, 0.9 + 0.5 * (1.5 - 0.9))
    reference = space_of("fourier4-re40.toml", reach=radial_map.max_body_radius)
    regenerated = design_space(case, [circle_body(shape)], [1.0], [limits])
    assert not reference.mappable(grown[None])[0] and regenerated.mappable(grown[None])[0]
    assert regenerated.unmappable(grown) is None and regenerated.simple(grown)
    further = grown.copy()
    further[0] = 1.7  # r = 1.35 D, past 1.2 D
    assert regenerated.unmappable(further).endswith(
        "of a mesh generated for another shape holds bodies up to 1.2 D"
    )
