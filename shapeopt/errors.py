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


class MeshQualityError(ShapeError):
    """A shape the mesh map would follow only by degrading cells below the quality floor (`quality`, the
    least scaled Jacobian it would reach): a mesh generated for a nearer shape may hold it (the trust
    region regenerates the mesh for its current shape)."""

    def __init__(self, message: str, quality: float):
        super().__init__(message)
        self.quality = quality


class ReachError(ShapeError):
    """A simple curve that reaches further from its centre than the mesh map holds on the current mesh: a
    mesh generated for a nearer shape reaches further (up to the map's radius), so it may hold it."""


class InterruptedWorkError(ShapeoptError):
    """Ctrl-C: the work stopped early; what was finished is kept."""

    exit_code = 130


def caused_by_ctrl_c(exc: BaseException) -> bool:
    """True when Ctrl-C caused `exc` (PETSc and MPI wrap a KeyboardInterrupt raised in a callback)."""
    return interrupt_behind(exc) is not None


def interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (Ctrl-C, or a subclass) that is `exc` or caused it, else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


class Terminated(KeyboardInterrupt):
    """SIGTERM (a batch scheduler's stop, `kill PID`), raised by the CLI's handler: a KeyboardInterrupt, so
    that it takes every path of Ctrl-C (finished work kept, the best network saved); exit code 143."""

    exit_code = 143
