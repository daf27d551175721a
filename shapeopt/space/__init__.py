"""Design spaces: the admissible shapes of a case, apart from any solver.

A design space knows the parameters (bounds, names), the constraints with their Jacobians (area,
centroid, thickness), the projection onto them, and the distribution that datasets and surrogate searches
draw from. The FEM problem, the reduced functional, datasets, the trust region and the surrogate search
all use it; a new parametrisation, several bodies or a body of revolution is a new design space, built
by `design_space` and bound by the contract of `DesignSpace`.
"""

from shapeopt.space.base import DesignSpace
from shapeopt.space.bodies import BodiesDesignSpace
from shapeopt.space.factory import design_space
from shapeopt.space.radial import RadialDesignSpace

__all__ = ["BodiesDesignSpace", "DesignSpace", "RadialDesignSpace", "design_space"]
