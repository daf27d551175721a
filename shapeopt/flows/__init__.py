"""Flow configurations: where the bodies sit and how the flow meets them, one module each.

`FLOWS` maps the domain kind of case files to its configuration (`FlowConfiguration`). A new configuration
is a new module with a `FlowConfiguration` subclass, registered here with `register`.
"""

from shapeopt.flows.base import FlowConfiguration, MeshSizes
from shapeopt.flows.channel import DFGChannel
from shapeopt.flows.freestream import FreeStream
from shapeopt.flows.revolution import RevolutionFlow

FLOWS: dict[str, FlowConfiguration] = {}


def register(flow: FlowConfiguration) -> FlowConfiguration:
    """Make `flow` the configuration of its `kind`; returns it."""
    FLOWS[flow.kind] = flow
    return flow


def flow_of(kind: str) -> FlowConfiguration:
    """The configuration of the domain kind `kind`; KeyError for an unknown kind."""
    return FLOWS[kind]


register(FreeStream())
register(DFGChannel())
register(RevolutionFlow())

__all__ = [
    "FLOWS",
    "DFGChannel",
    "FlowConfiguration",
    "FreeStream",
    "MeshSizes",
    "RevolutionFlow",
    "flow_of",
    "register",
]
