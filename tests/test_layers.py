"""Architecture: imports point down the layers only, and the learning side runs without FEniCS."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import CASES, ROOT, write_synthetic_dataset

# shapeopt's layers, lowest first: a module may import its own layer and those below it.
LAYERS = {
    "shapeopt": 0,
    "shapeopt.errors": 0,
    "shapeopt.files": 0,
    "shapeopt.geometry": 1,
    "shapeopt.flows": 2,
    "shapeopt.cases": 2,
    "shapeopt.designs": 2,
    "shapeopt.space": 3,
    "shapeopt.fem": 4,
    "shapeopt.viz": 5,
    "shapeopt.data": 6,
    "shapeopt.design": 7,
    "shapeopt.app": 8,
    "shapeopt.cli": 9,
    "shapeopt.__main__": 10,
}
PACKAGES = ("shapeopt", "surrogates")
FENICS = ("dolfinx", "dolfinx_solver", "petsc4py", "ufl", "basix", "ffcx", "mpi4py")
FENICS_FREE_LAYER = 3  # errors, files, geometry, flows, cases and the design spaces work without FEniCS


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    """The layer of a shapeopt module: that of its longest listed prefix."""
    prefixes = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return LAYERS[max(prefixes, key=len)]


def imports(path: Path) -> list[str]:
    """Every module `path` imports, at the top or inside functions."""
    return imports_in(ast.parse(path.read_text()))


def imports_in(tree: ast.AST) -> list[str]:
    """Every module imported in `tree`, in the order of the source."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return found


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_the_layer_table_covers_every_module():
    for path in sources("shapeopt"):
        module = module_name(path)
        assert any(module == p or module.startswith(p + ".") for p in LAYERS), module


@pytest.mark.parametrize("path", sources("shapeopt"), ids=lambda p: module_name(p))
def test_shapeopt_imports_point_down(path):
    module = module_name(path)
    upward = [
        name for name in imports(path) if name.split(".")[0] == "shapeopt" and layer(name) > layer(module)
    ]
    assert not upward, f"{module} (layer {layer(module)}) imports {upward}"
    if layer(module) <= FENICS_FREE_LAYER:
        fenics = [name for name in imports(path) if name.split(".")[0] in FENICS]
        assert not fenics, f"{module} must work without FEniCS but imports {fenics}"


@pytest.mark.parametrize("path", sources("surrogates"), ids=lambda p: module_name(p))
def test_surrogates_import_neither_shapeopt_nor_fenics(path):
    bad = [name for name in imports(path) if name.split(".")[0] in ("shapeopt", *FENICS)]
    assert not bad, f"{module_name(path)} imports {bad}"


def runtime_imports(path: Path) -> list[str]:
    """The modules `path` imports when it runs: those under `if TYPE_CHECKING:` left out."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []
    return imports_in(tree)


@pytest.mark.parametrize("path", sources("shapeopt"), ids=lambda p: module_name(p))
def test_fenics_is_imported_by_the_fem_package_only(path):
    """`dolfinx_solver` orders MPI ahead of DOLFINx and PETSc; `shapeopt/fem/__init__.py` imports it first,
    so every module of the package, and every other module, takes FEniCS and MPI through `shapeopt.fem`."""
    fenics = [name for name in runtime_imports(path) if name.split(".")[0] in FENICS]
    if path == ROOT / "shapeopt" / "fem" / "__init__.py":
        assert fenics[0] == "dolfinx_solver"
    elif module_name(path).startswith("shapeopt.fem."):
        assert "dolfinx_solver" not in fenics
    else:
        assert not fenics, f"{module_name(path)} imports {fenics}; take MPI from shapeopt.fem"


def test_the_design_space_lies_below_the_fem_and_serves_its_users():
    """The design space needs no solver: it sits between the cases and the FEM, and the FEM problem, the
    reduced functional, datasets and the trust region reach the constraints through it."""
    assert LAYERS["shapeopt.cases"] < LAYERS["shapeopt.space"] < LAYERS["shapeopt.fem"]
    assert LAYERS["shapeopt.space"] <= FENICS_FREE_LAYER
    users = (
        "fem/problem.py",
        "design/functional.py",
        "design/trust_region.py",
        "design/surrogate_search.py",
        "data/dataset.py",
    )
    for user in users:
        text = (ROOT / "shapeopt" / user).read_text()
        assert "space" in text and "draw_designs" not in text and "constraints_batch(" not in text, user


def shapeopt_imports(path: Path) -> set[str]:
    """The shapeopt modules `path` imports (a name imported from a package counts as its module when it is
    one: `from shapeopt.app import runs` imports `shapeopt.app.runs`)."""
    modules = {module_name(p) for p in sources("shapeopt")}
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found & modules - {module_name(path)}


def test_no_module_imports_one_that_imports_it_back():
    """The imports among shapeopt modules (at the top, in functions or for type checking) form no cycle."""
    graph = {module_name(path): shapeopt_imports(path) for path in sources("shapeopt")}
    done: set[str] = set()

    def cycle_from(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph[module]):
            found = cycle_from(imported, [*path, module])
            if found:
                return found
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = cycle_from(module, [])
        assert cycle is None, " → ".join(cycle)


def test_the_imports_found_include_function_level_ones():
    """The checker sees imports inside functions (the CLI imports FEniCS lazily there)."""
    assert "shapeopt.fem.problem" in imports(ROOT / "shapeopt" / "cli" / "flow_commands.py")


BLOCK_FENICS = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in FENICS)


def test_supervised_training_runs_without_fenics(tmp_path):
    data, out = tmp_path / "synthetic.h5", tmp_path / "s.pt"
    write_synthetic_dataset(data, "coarse")
    code = BLOCK_FENICS + (
        "from shapeopt.cli import main\n"
        f"sys.exit(main(['train', {str(CASES / 'cylinder-re1-40.toml')!r}, '--level', 'coarse', "
        f"'--data', {str(data)!r}, '--method', 'supervised', '--epochs', '20', '--out', {str(out)!r}, "
        "'--json']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["metrics"]["epochs"] == 20 and out.is_file()


def test_a_dataset_of_another_level_is_refused_in_one_line(tmp_path):
    data = tmp_path / "synthetic.h5"
    write_synthetic_dataset(data, "medium")
    code = BLOCK_FENICS + (
        "from shapeopt.cli import main\n"
        f"sys.exit(main(['train', {str(CASES / 'cylinder-re1-40.toml')!r}, '--level', 'coarse', "
        f"'--data', {str(data)!r}, '--out', {str(tmp_path / 's.pt')!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "mesh level 'medium' ≠ 'coarse'" in proc.stderr


MAX_FUNCTION_LINES = 80


def test_no_function_is_longer_than_80_lines():
    """Functions in the two packages stay short enough to read at once (decorators to last line)."""
    long = []
    for path in sources("shapeopt") + sources("surrogates"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                if node.end_lineno - first + 1 > MAX_FUNCTION_LINES:
                    long.append(f"{module_name(path)}.{node.name}: {node.end_lineno - first + 1} lines")
    assert not long, long


def test_tests_use_public_names_only():
    """Tests check public behaviour: no test imports a private name of the packages."""
    private = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PACKAGES:
                names = [alias.name for alias in node.names]
                private += [f"{path.name}: {name}" for name in names if name.startswith("_")]
    assert not private, private
