"""shapeopt: drag of bodies in steady laminar flow (DOLFINx), its shape gradient, and its reduction."""

__version__ = "0.1.0"
