"""Several bodies in the free stream: each one's drag, the interaction, far apart each body against the
same circle alone, and the case checks."""

from __future__ import annotations

import dataclasses

import pytest

from shapeopt.cases import load_case
from shapeopt.cli import main
from shapeopt.errors import CaseError
from shapeopt.fem.simulate import run_solve
from tests.helpers import CASES

TANDEM = CASES / "tandem-re20.toml"


def solved(bodies):
    case = load_case(TANDEM).with_overrides(level="coarse")
    return run_solve(
        dataclasses.replace(case, domain=dataclasses.replace(case.domain, bodies=tuple(bodies)))
    )[0]


def test_the_rear_body_of_a_tandem_sits_in_the_wake_and_the_parts_sum_to_the_total():
    result = solved([(0.0, 0.0), (3.0, 0.0)])
    front, rear = result.bodies
    assert abs(front["cd"] + rear["cd"] - result.cd) < 1e-9 * result.cd
    single = solved([(0.0, 0.0)]).cd
    # medium level (docs/bodies.md): front 1.88, rear 0.40 (2 D) to 0.68 (5 D), single 2.03
    assert rear["cd"] < 0.4 * single and front["cd"] < single
    assert abs(front["cl"]) < 1e-3 and abs(rear["cl"]) < 1e-3  # symmetric about the axis


def test_bodies_far_apart_approach_the_drag_of_each_alone():
    excess = []
    for distance in (20.0, 40.0):
        pair = solved([(0.0, -distance / 2), (0.0, distance / 2)]).bodies[1]["cd"]
        alone = solved([(0.0, distance / 2)]).cd
        excess.append(pair / alone - 1)
    # The interaction decays like 1/distance (Oseen's far field): +2.0 % at 20 D, +1.0 % at 40 D.
    assert 0 < excess[1] < 0.6 * excess[0] and excess[0] < 0.03, excess


def test_bad_bodies_are_refused_in_one_line(write_case, capsys, tmp_path):
    text = TANDEM.read_text()
    for bodies, message in (
        ("[[0.0, 0.0], [1.2, 0.0]]", "are closer than 1.5 D"),
        ("[[0.0, 0.0], [3.0]]", "'domain.bodies' must be a list of [x, y] centres"),
        ("[]", "'domain.bodies' must be a list of [x, y] centres"),
        ("[[0.0, 0.0], [79.0, 0.0]]", "'domain.downstream' 80 does not hold the body"),
    ):
        with pytest.raises(CaseError) as caught:
            load_case(write_case(text.replace("[[0.0, 0.0], [3.0, 0.0]]", bodies)))
        assert message in str(caught.value)
    assert main(["optimize", str(TANDEM), "--level", "coarse", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err == (
        "shapeopt: error: case 'tandem-re20': several bodies are circles so far; their shapes are not free\n"
    )
