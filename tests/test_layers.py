"""Architecture: imports point down the layers only, and the learning side runs without FEniCS."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CASES, ROOT, write_synthetic_dataset

# shapeopt's layers, lowest first: a module may import its own layer and those below it.
LAYERS = {
    "shapeopt": 0,
    "shapeopt.errors": 0,
    "shapeopt.files": 0,
    "shapeopt.geometry": 1,
    "shapeopt.cases": 2,
    "shapeopt.space": 3,
    "shapeopt.fem": 4,
    "shapeopt.viz": 5,
    "shapeopt.data": 6,
    "shapeopt.design": 7,
    "shapeopt.cli": 8,
    "shapeopt.__main__": 9,
}
FENICS = ("dolfinx", "dolfinx_solver", "petsc4py", "ufl", "basix", "ffcx", "mpi4py")
FENICS_FREE_LAYER = 3  # errors, files, geometry, cases and the design spaces work without FEniCS


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    """The layer of a shapeopt module: that of its longest listed prefix."""
    prefixes = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return LAYERS[max(prefixes, key=len)]


def imports(path: Path) -> list[str]:
    """Every module `path` imports, at the top or inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
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
