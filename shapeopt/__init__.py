"""shapeopt: drag of bodies in steady laminar flow (DOLFINx), its shape gradient, and its reduction.

Sub-packages by layer; a module imports only from its own layer and those listed before it:
`errors`, `files` → `geometry` → `cases` → `space` → `fem` → `viz` → `data` → `design` → `cli`.
Only `fem` (and what imports it) needs FEniCS; `surrogates` (the learning side) never does.
"""

__version__ = "0.1.0"
