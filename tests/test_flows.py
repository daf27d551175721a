"""Flow configurations: each kind of case file names one registered configuration, which holds its data."""

from __future__ import annotations

import pytest

from shapeopt.cases import load_case, parse_case
from shapeopt.designs import mirror_symmetric
from shapeopt.errors import CaseError
from shapeopt.flows import FLOWS, FlowConfiguration, flow_of, register
from shapeopt.flows.channel import DFG_CENTER, DFGChannel
from tests.helpers import CASES


def test_the_registry_holds_the_three_configurations_in_order():
    assert list(FLOWS) == ["freestream", "dfg-channel", "axisymmetric"]
    assert all(isinstance(flow, FlowConfiguration) and flow_of(kind) is flow for kind, flow in FLOWS.items())


@pytest.mark.parametrize("kind", list(FLOWS))
def test_every_configuration_builds_a_case(kind):
    case = parse_case({"domain": {"kind": kind}, "flow": {"re": 10}})
    flow = case.domain.flow
    assert flow.kind == kind and len(case.domain.centres) == 1
    x0, x1, y0, y1 = flow.box(case.domain)
    (cx, cy), r = case.domain.centres[0], flow.body_radius
    assert x0 < cx - r < cx + r < x1 and y0 <= cy - r * (not flow.revolution) < cy + r < y1
    assert flow.coefficients == (("cd",) if flow.revolution else ("cd", "cl"))


def test_the_channel_places_its_body_itself():
    case = load_case(CASES / "dfg-2d1.toml")
    assert case.domain.centres == (DFG_CENTER,) and case.domain.bodies == ((0.0, 0.0),)  # as saved
    assert case.domain.flow.picture_window(case.domain) == (0.0, 2.2, 0.0, 0.41)
    assert not mirror_symmetric(case) and mirror_symmetric(load_case(CASES / "cylinder-re40.toml"))


def test_a_new_configuration_is_one_registration():
    class WideChannel(DFGChannel):
        kind = "wide-channel"

    try:
        register(WideChannel())
        case = parse_case({"domain": {"kind": "wide-channel"}, "flow": {"re": 10}})
        assert case.domain.centres == (DFG_CENTER,)
        with pytest.raises(CaseError, match="does not apply to the fixed wide-channel geometry"):
            parse_case({"domain": {"kind": "wide-channel", "upstream": 3.0}, "flow": {"re": 10}})
    finally:
        del FLOWS["wide-channel"]
    with pytest.raises(CaseError, match="expected one of freestream, dfg-channel, axisymmetric"):
        parse_case({"domain": {"kind": "wide-channel"}, "flow": {"re": 10}})
