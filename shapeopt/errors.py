"""Errors that the CLI reports as one line with a distinct exit code."""


class ShapeoptError(Exception):
    """Base class: a problem the user can act on, reported without a traceback."""

    exit_code = 1


class CaseError(ShapeoptError):
    """A case file is missing, unreadable or does not match the schema."""

    exit_code = 2


class SolverError(ShapeoptError):
    """A nonlinear solve did not converge (after continuation, if enabled)."""

    exit_code = 3


class MeshError(ShapeoptError):
    """A mesh could not be generated for the requested geometry."""

    exit_code = 4


class ShapeError(ShapeoptError):
    """A shape is refused: not a simple curve, or its mesh morph inverts or degrades cells."""

    exit_code = 5


class InterruptedWorkError(ShapeoptError):
    """Ctrl-C: the work stopped early; what was finished is kept."""

    exit_code = 130
