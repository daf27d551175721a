"""Helpers shared by the commands: options from settings, the case of the arguments, progress, output."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shapeopt.cases import Case, load_case
from shapeopt.errors import CaseError
from shapeopt.files import check_input_file


def defaults_of(source: type | Callable) -> dict[str, Any]:
    """Default values of a settings dataclass's fields, or of a function's keyword parameters."""
    if dataclasses.is_dataclass(source):
        return {f.name: f.default for f in dataclasses.fields(source) if f.default is not dataclasses.MISSING}
    parameters = inspect.signature(source).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def add_options(
    parser: argparse.ArgumentParser,
    source: type | Callable,
    helps: dict[str, str],
    flags: dict[str, str] | None = None,
    choices: dict[str, tuple] | None = None,
    resolved_later: dict[str, str] | None = None,
) -> None:
    """One option per name in `helps`, its default (and type) taken from `source` (`defaults_of`), so
    that the library is the one source of defaults. `flags` renames an option (default --name-with-dashes).
    `resolved_later` names options whose default depends on other options: they default to None and the
    help shows the given text as their default."""
    defaults = defaults_of(source)
    named = dict(parser.get_default("option_flags") or {})  # for messages: `refuse_problems`
    for name, text in helps.items():
        default = defaults[name]
        flag = named[name] = (flags or {}).get(name, "--" + name.replace("_", "-"))
        kind = float if isinstance(default, float) else type(default)
        shown = f"{default:g}" if kind is float else str(default)
        if name in (resolved_later or {}):
            default, shown = None, resolved_later[name]
        parser.add_argument(
            flag,
            dest=name,
            type=kind,
            default=default,
            choices=(choices or {}).get(name),
            help=f"{text} (default: {shown})",
        )
    parser.set_defaults(option_flags=named)


def options_for(args: argparse.Namespace, source: type | Callable) -> dict[str, Any]:
    """The parsed values of the options that `add_options` made from `source`."""
    return {name: getattr(args, name) for name in defaults_of(source) if hasattr(args, name)}


def refuse_problems(args: argparse.Namespace, problems: list[str]) -> None:
    """Refuse settings with problems in one `CaseError` line. Each phrase starts with a setting's name
    (`TrainSettings.problems`), shown as the option typed on the command line (`--gradient-weight`, not
    gamma); a setting that is no option keeps its name."""
    flags = getattr(args, "option_flags", {})

    def named(problem: str) -> str:
        name, _, rest = problem.partition(" ")
        if name not in flags and name in vars(args):  # an option not made by `add_options`
            return f"--{name.replace('_', '-')} {rest}"
        return f"{flags[name]} {rest}" if name in flags else problem

    if problems:
        raise CaseError("; ".join(named(problem) for problem in problems))


# The input files a command line names, by option (destination): what messages call them.
INPUT_FILES = {
    "case": "case file",
    "shape": "shape file",
    "data": "dataset",
    "surrogate": "surrogate file",
    "model": "designer file",
    "designer": "designer file",
}


def check_input_files(args: argparse.Namespace) -> None:
    """Refuse, before any work, each input file of `INPUT_FILES` given on the command line that is not
    there, cannot be looked at or is no regular file (`check_input_file`): a FIFO would wait for ever.
    An option given without its file (`atlas --designer`: the shipped one) names none."""
    for dest, what in INPUT_FILES.items():
        if isinstance(getattr(args, dest, None), Path):
            check_input_file(getattr(args, dest), what)


def load_args(args: argparse.Namespace, **overrides) -> Case:
    """The case named on the command line, with its --level (and other overrides) applied."""
    return load_case(args.case).with_overrides(level=args.level, **overrides)


def renamed_value(option: str, renames: dict[str, str]):
    """An argparse `type` that takes the former names of an option's values (`renames`: old → new) and
    says in one line on stderr what they are called now."""

    def value(text: str) -> str:
        if text in renames:
            status_line(f"shapeopt: note: {option} {text} is now called {option} {renames[text]}")
        return renames.get(text, text)

    return value


class RenamedFlag(argparse.Action):
    """A flag's former name: sets the new flag's destination and says in one line what it is called now."""

    def __init__(self, option_strings, dest, new: str, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help=argparse.SUPPRESS, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        status_line(f"shapeopt: note: {option_string} is now called {self.new}")
        setattr(namespace, self.dest, True)


def status_line(text: str) -> None:
    """A progress line on stderr (stdout stays free for --json)."""
    print(text, file=sys.stderr, flush=True)


def print_result(args: argparse.Namespace, data: dict, text: str, rank: int = 0) -> None:
    """A command's result on stdout, once (rank 0): one JSON object with --json, else `text`."""
    if rank == 0:
        print(json.dumps(data) if args.json else text)


def optimize_text(result, out, operating_range: list[dict] | None = None) -> str:
    """The summary lines that `optimize` and `run` print; over an operating range of Re, each Re's
    objective at the final shape against the initial one (`operating_range`, summary.json's rows)."""
    i, f = result.initial, result.final
    lines = [
        f"{result.method} optimization: {result.message}",
        f"  {f.objective} {i.objective_value:.6f} → {f.objective_value:.6f} "
        f"({f.objective_value / i.objective_value - 1:+.2%}), area ratio {f.area_ratio:.10f}, "
        f"constraint violation {f.violation:.1e}" + ("" if result.feasible else " (infeasible)"),
        f"  {len(result.history) - 1} iterations, {result.fem_solves} FEM solves, "
        f"{result.adjoint_solves} adjoint gradients, "
        + (f"{result.hessians} Hessians, " if result.hessians else "")
        + f"{result.refused} refused trial shapes, "
        + (
            f"{len(result.remeshes)} mesh{'es' * (len(result.remeshes) > 1)} generated, "
            if result.remeshes
            else ""
        )
        + f"{result.seconds:.1f} s",
        f"  s = [{', '.join(f'{v:.5f}' for v in f.s)}]",
    ]
    if result.refit:
        m = result.refit["metrics"]
        lines.append(
            f"  refit: appended {result.refit['appended']} verified samples to {result.refit['dataset']}; "
            f"test C_D error median {m['cd_error_median']:.2e}, max {m['cd_error_max']:.2e}"
        )
    lines.append(
        f"  length/height {f.length / f.height:.2f}, tip angles front {f.front_angle:.0f}° rear "
        f"{f.rear_angle:.0f}°, parameters on a bound: {', '.join(f.active_bounds) or 'none'}"
    )
    for k, body in enumerate(f.bodies or [], 1):
        x, y = body["center"]
        lines.append(
            f"  body {k} at ({x:g}, {y:g}): C_D {body['cd']:.6f}  C_L {body['cl']:+.6f}  area ratio "
            f"{body['area_ratio']:.10f}  length/height {body['length'] / body['height']:.2f}  tip angles "
            f"front {body['front']:.0f}° rear {body['rear']:.0f}°"
        )
    for row in operating_range or []:
        regret = f"  regret {row['initial_regret']:.3%} → {row['regret']:.3%}" if "regret" in row else ""
        lines.append(
            f"  Re {row['re']:9.4f}  weight {row['weight']:.4f}  C_D {row['initial_cd']:.6f} → "
            f"{row['cd']:.6f} ({row['cd'] / row['initial_cd'] - 1:+.2%})" + regret
        )
    files = "shape.json, summary.json, history.json, shapes.png, history.png, iterates.png, flow.png"
    lines.append(f"  wrote {out}/{files}")
    return "\n".join(lines)
