"""Several bodies in the free stream: each one's drag, the interaction, far apart each body against the
same circle alone; each body's own design space, the objectives and their adjoints, an optimization; the
case checks."""

from __future__ import annotations

import dataclasses
import json
import subprocess

import numpy as np
import pytest

from shapeopt.cases import Objective, load_case
from shapeopt.cli import main
from shapeopt.designs import body_shape, mirror_symmetric
from shapeopt.errors import CaseError
from shapeopt.fem.morph import map_radii_for
from shapeopt.fem.physics import FEMPhysics
from shapeopt.fem.problem import DragProblem
from shapeopt.fem.simulate import run_solve
from shapeopt.fem.verify import taylor_test
from shapeopt.flows.freestream import MAP_CLEARANCE
from shapeopt.geometry.outlines import read_outline
from shapeopt.space.radial import REACH_ANGLES
from tests.helpers import CASES, shapeopt_command, surrogate_route

TANDEM = CASES / "tandem-re20.toml"
SIDE_BY_SIDE = CASES / "side-by-side-re20.toml"


@pytest.fixture(scope="module")
def side_by_side():
    """The side-by-side pair on coarse, objective: the upper body's drag plus half its lift."""
    case = load_case(SIDE_BY_SIDE).with_overrides(level="coarse")
    case = dataclasses.replace(case, objective=Objective(body=2, lift_weight=0.5))
    with DragProblem(case) as problem:
        yield problem


def a_design(problem, seed=0, size=0.05):
    """An admissible design with every body off the circle: random, projected onto the constraints."""
    rng = np.random.default_rng(seed)
    s, admissible = problem.space.project(size * rng.standard_normal(problem.size))
    assert admissible.all()
    return s[0]


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


def test_each_body_has_its_own_parameters_area_and_centroid(side_by_side):
    space = side_by_side.space
    assert space.size == 32 and space.names()[16] == "b2.c0"
    s = a_design(side_by_side)
    values, jacobian = space.constraints(s)
    assert np.max(np.abs(values)) < 1e-12 and jacobian.shape == (6, 32)
    assert np.all(jacobian[:3, 16:] == 0) and np.all(jacobian[3:, :16] == 0)  # block diagonal
    for (_, ratio, centroid), center in zip(space.measure_bodies(s), [(0, -1.5), (0, 1.5)], strict=True):
        assert abs(ratio - 1) < 1e-12 and np.allclose(centroid, center, atol=1e-12)
    # Each body's nodes move with its own parameters only.
    morph = side_by_side.morph
    upper = np.linalg.norm(morph.reference[:, :2] - [0.0, 1.5], axis=1) < 0.51
    lower = np.linalg.norm(morph.reference[:, :2] - [0.0, -1.5], axis=1) < 0.51
    assert upper.sum() > 10 and np.all(morph.basis[upper][:, :, :16] == 0)
    assert lower.sum() > 10 and np.all(morph.basis[lower][:, :, 16:] == 0)


def test_the_objective_is_its_bodies_drag_plus_weighted_lift_and_its_adjoint_has_taylor_rate_2(side_by_side):
    s = a_design(side_by_side, seed=1)
    evaluation = side_by_side.evaluate(s, gradient=True)
    lower, upper = evaluation.bodies
    assert evaluation.objective == pytest.approx(upper.cd + 0.5 * upper.cl, rel=1e-12)
    assert evaluation.lift == pytest.approx(upper.cl, rel=1e-12)
    assert upper.cl > 0.05 and lower.cl < -0.05  # side by side the bodies repel
    parts = side_by_side.forces.drag_parts()  # surface integrals: against the volume form to 1 %
    for (pressure, viscous), body in zip(parts, evaluation.bodies, strict=True):
        assert pressure + viscous == pytest.approx(body.cd, rel=1e-2) and 0 < viscous < pressure
    for quantity in ("objective", "lift"):
        taylor = taylor_test(side_by_side, s, quantity, seed=2)
        assert taylor.min_rate > 1.9, (quantity, taylor.rates)


def test_mirror_images_swap_the_bodies_side_by_side_and_the_lift_breaks_the_symmetry(side_by_side):
    shape = side_by_side.space.shape
    mirror = shape.mirror()
    assert np.allclose(mirror @ mirror, np.eye(32))
    s = a_design(side_by_side, seed=3)
    upper_mirrored = shape.shapes[0].outline(shape.split(mirror @ s)[0])
    assert np.allclose(upper_mirrored[::-1] * [1, -1], shape.shapes[1].outline(shape.split(s)[1]), atol=1e-12)
    case = side_by_side.case
    assert not mirror_symmetric(case)  # the upper body's lift is in the objective
    assert mirror_symmetric(dataclasses.replace(case, objective=Objective()))
    assert not mirror_symmetric(dataclasses.replace(case, objective=Objective(body=2)))
    assert mirror_symmetric(load_case(TANDEM))


def test_a_tandem_pair_optimizes_each_body_at_its_own_area(tmp_path):
    out = tmp_path / "run"
    # In its own process: the run's flow picture (PyVista) and later FEM tests do not share one.
    args = ("optimize", str(TANDEM), "--level", "coarse", "--method", "newton", "--out", str(out))
    assert subprocess.run(shapeopt_command(*args), capture_output=True, text=True).returncode == 0
    summary = json.loads((out / "summary.json").read_text())
    initial, final = summary["initial"], summary["final"]
    # coarse: 2.4904 → 2.2260, converged (medium: 2.4900 → 2.2237, docs/bodies.md)
    assert final["cd"] < 0.92 * initial["cd"]
    front, rear = final["bodies"]
    assert front["cd"] + rear["cd"] == pytest.approx(final["cd"], rel=1e-9)
    assert abs(front["area_ratio"] - 1) < 1e-9 and abs(rear["area_ratio"] - 1) < 1e-9
    assert np.allclose(front["centroid"], [0, 0], atol=1e-9) and np.allclose(
        rear["centroid"], [4, 0], atol=1e-9
    )
    assert front["length"] > 1.5 and rear["length"] > 1.5  # both streamlined
    points = read_outline(out / "outline.csv")
    assert np.isnan(points[:, 0]).sum() == 1  # two bodies, one gap
    assert np.nanmax(points[:, 0]) > 4.75 and np.nanmin(points[:, 0]) < -0.75


def test_bad_bodies_are_refused_in_one_line(write_case, capsys, tmp_path):
    text = TANDEM.read_text()
    for bodies, message in (
        ("[[0.0, 0.0], [1.2, 0.0]]", "are closer than 1.5 D"),
        ("[[0.0, 0.0], [3.0]]", "'domain.bodies' must be a list of [x, y] centres"),
        ("[]", "'domain.bodies' must be a list of [x, y] centres"),
        ("[[0.0, 0.0], [79.0, 0.0]]", "'domain.downstream' 80 does not hold the body"),
    ):
        with pytest.raises(CaseError) as caught:
            load_case(write_case(text.replace("[[0.0, 0.0], [4.0, 0.0]]", bodies)))
        assert message in str(caught.value)
    for objective, message in (
        ("body = 3", "'objective.body' must be 0 (every body) or a body's number from 1 to 2, got 3"),
        ("body = -1", "'objective.body' must be 0 (every body) or a body's number from 1 to 2, got -1"),
        ("body = 1.5", "'objective.body' must be an integer (0: every body), got float 1.5"),
        ("lift_weight = nan", "'objective.lift_weight' must be a finite number, got nan"),
        ("scale = 1", "unknown key 'objective.scale'"),
    ):
        path = write_case(text.replace("body = 0  ", objective + "  ").replace("lift_weight = 0.0", ""))
        assert main(["optimize", str(path), "--level", "coarse", "--out", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "run").exists()


def test_dataset_surrogate_and_trust_region_work_on_two_bodies(tmp_path):
    """The learning route on the side-by-side pair (coarse): a 12-sample dataset of both bodies' shapes, a
    briefly trained surrogate of the 32 parameters, FEM-verified trust-region steps that lower the drag
    with each body's area and centroid kept."""
    case = load_case(SIDE_BY_SIDE).with_overrides(level="coarse")
    summary, data, result, space = surrogate_route(case, tmp_path)
    assert summary["computed"] == 12 and summary["failed"] <= 2
    assert data.s.shape[1] == 32 and data.spec.names[16] == "b2.c0"
    assert result.final.objective_value < result.initial.objective_value
    s = np.asarray(result.final.s)
    assert space.violation(s) < 1e-9
    assert all(abs(ratio - 1) < 1e-9 for _, ratio, _ in space.measure_bodies(s))


def test_the_solver_in_the_loop_labels_states_with_the_objective_as_the_dataset_does(side_by_side):
    """PG and DP targets (`FEMPhysics.coefficients`, `.solution_from`) carry the same quantities as a
    dataset row (`DragProblem.evaluate`): the objective J and its bodies' lift, beside J's gradient."""
    s = a_design(side_by_side, seed=3)
    re = side_by_side.case.re
    evaluation = side_by_side.evaluate(s, gradient=True)
    labels = np.array([evaluation.objective, evaluation.lift])
    gradient, state = evaluation.gradient.copy(), side_by_side.state()
    physics = FEMPhysics(side_by_side)
    assert np.allclose(physics.coefficients(s, re, state), labels, rtol=1e-10)
    solved_state, coefficients, target_gradient, _ = physics.solution_from(s, re, state)
    assert np.allclose(coefficients, labels, rtol=1e-10)
    assert np.allclose(target_gradient, gradient, rtol=1e-8, atol=1e-12)
    assert np.allclose(solved_state, state, rtol=1e-8, atol=1e-12)


def test_on_a_mesh_generated_for_two_bodies_no_map_reaches_the_other_body():
    """A mesh generated for the tandem pair with the front body's tail reaching towards the rear body: each
    map ends `MAP_CLEARANCE` short of the other body's outline there (else the rear body's boundary would
    move with the front body's parameters), and on the circles the maps are the configuration's."""
    case = load_case(TANDEM)
    shape = body_shape(case)
    assert map_radii_for(case, np.zeros(shape.size)) == case.domain.flow.map_radii(case.domain)
    fitted = np.zeros(shape.size)
    tail = slice(shape.blocks[0].start, shape.blocks[0].start + 2)
    fitted[tail] = 2.5  # the front body's tail (θ = 0) pulled out
    front = shape.shapes[0].outline_at(REACH_ANGLES, fitted[shape.blocks[0]])
    radii = map_radii_for(case, fitted)
    gap_to_front = np.min(np.linalg.norm(front - np.array(shape.shapes[1].center), axis=1))
    assert gap_to_front < case.domain.flow.map_radii(case.domain)[1] + MAP_CLEARANCE  # the rule bites
    assert radii[1] == pytest.approx(gap_to_front - MAP_CLEARANCE, abs=1e-12)
    assert radii[0] == case.domain.flow.map_radii(case.domain)[0]  # the rear circle is as far as before
