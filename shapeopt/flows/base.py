"""What every flow configuration provides: its geometry, sizes, inflow and coefficients (`FlowConfiguration`).

A configuration is one way of placing bodies in a flow (a free stream, the DFG channel, a body of
revolution). It holds the data and rules the rest of the code asks for instead of comparing the domain's
kind: box and body centres, element sizes, map radii, inflow and wall velocities, the reference speed and
the force scales, the picture window, the outline frame. Lengths are in the configuration's
`length_unit` (D, or m in the DFG channel). Pure numpy: the FEM builds meshes and boundary conditions
from it (`shapeopt.fem`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

import numpy as np

Centres = tuple[tuple[float, float], ...]
Box = tuple[float, float, float, float]


class DomainSizes(Protocol):
    """The case's domain settings a configuration reads (`cases.Domain`): box lengths from the origin and
    the centres (x, y) of the bodies as the case gives them, in D."""

    upstream: float
    downstream: float
    half_width: float
    bodies: Centres


@dataclass(frozen=True)
class MeshSizes:
    """Element sizes (case length units): `body + growth·distance`, capped at `far`; `wake` likewise."""

    body: float
    wake: float
    far: float
    growth: float
    wake_length: float


class FlowConfiguration(ABC):
    """One flow configuration (see the module). `kind` is its name in case files and saved results."""

    kind: str
    length_unit: str  # "D" or "m"
    frame: str  # the frame and unit of outline points, in words
    body_radius: float  # of the reference circle, in `length_unit`
    reference_speed: float  # U of Re = U D / ν and of the coefficients (the mean inflow speed)
    mesh_sizes: MeshSizes  # at the coarse level; each finer level halves every size
    revolution: bool = False  # the body of revolution's meridional half-plane, the weak form times r
    fixed_box: bool = False  # the box is fixed: `domain.upstream`, `downstream`, `half_width` do not apply
    several_bodies: bool = False  # `domain.bodies` may place several bodies
    mirror_box: bool = False  # the box is mirror-symmetric about y = 0
    pressure_drop: bool = False  # results report Δp between the body's front and rear points

    @property
    def coefficients(self) -> tuple[str, ...]:
        """The force coefficients a body has: C_D and C_L, or C_D alone for a body of revolution."""
        return ("cd",) if self.revolution else ("cd", "cl")

    @abstractmethod
    def box(self, domain: DomainSizes) -> Box:
        """The flow domain (x0, x1, y0, y1) in `length_unit`."""

    @abstractmethod
    def centres(self, domain: DomainSizes) -> Centres:
        """The centres (x, y) of the bodies, in `length_unit`."""

    @abstractmethod
    def map_radii(self, domain: DomainSizes) -> list[float]:
        """How far from each body's centre the mesh moves with that body (`geometry.radial_map`)."""

    def picture_window(self, domain: DomainSizes) -> Box:
        """The (x0, x1, y0, y1) window of flow pictures: the near wake of the bodies."""
        x, y = np.array(self.centres(domain)).T
        return (x.min() - 3.0, x.max() + 12.0, y.min() - 3.5, y.max() + 3.5)

    def reference_mesh_name(self, domain: DomainSizes, level: str) -> str | None:
        """The file name of the stored reference mesh of the domain at `level`; None: never stored."""
        return None

    def inflow(self, x: np.ndarray) -> np.ndarray:
        """Velocity (2, n) at the inlet points x (3, n): the uniform stream (1, 0)."""
        return np.vstack([np.ones(x.shape[1]), np.zeros(x.shape[1])])

    def wall_velocity(self, x: np.ndarray) -> np.ndarray:
        """Velocity (2, n) at the side walls' points x (3, n): the free stream's, which they bound."""
        return self.inflow(x)

    def coefficient_scales(self, diameter: float) -> tuple[float, float]:
        """Force → coefficient factors (drag, lift) for a body of `diameter`: 1 / (½ U² D) per unit span."""
        scale = 2.0 / (self.reference_speed**2 * diameter)
        return scale, scale
