"""The shape of the code, read with `ast` (nothing is imported).

Layering, bottom to top: the settings (`c360.settings`), the connectors, the rest of the libraries
(`c360`), the Dagster definitions (`orchestration`), the command line (`c360_cli`). A module may
import its own layer and those below, never one above; the libraries never import Dagster.

Function length: no function or method of these packages is longer than `MAX_FUNCTION_LINES`, unless
the first line of its body (a comment or the docstring) says why it "must be long because".
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("c360", "connectors", "orchestration", "c360_cli")
MAX_FUNCTION_LINES = 80
LONG_FUNCTION_EXCUSE = "must be long because"


def rank(module: str) -> int | None:
    """The layer of a module of the project; None for anything else (the standard library,
    third-party packages, the simulator)."""
    top = module.split(".")[0]
    if module == "c360.settings" or module.startswith("c360.settings."):
        return 0
    return {"connectors": 1, "c360": 2, "orchestration": 3, "c360_cli": 4}.get(top)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


MODULES = project_modules()


def _absolute(importer: str, is_package: bool, level: int, module: str | None) -> str:
    if not level:
        return module or ""
    base = importer.split(".")
    base = base[: len(base) - level + (1 if is_package else 0)]
    return ".".join([*base, *([module] if module else [])])


def imported_modules(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every import of the file, anywhere in it (also inside functions), with
    `from package import submodule` resolved to the submodule."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(module, is_package, node.level, node.module)
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                yield node.lineno, submodule if submodule in MODULES else target


def test_every_package_is_found():
    assert {"c360.settings", "connectors", "c360.raw_store", "orchestration.definitions", "c360_cli.main"} <= set(
        MODULES
    )


def test_no_module_imports_a_higher_layer():
    upward = []
    for module, path in MODULES.items():
        own = rank(module)
        for line, imported in imported_modules(module, path):
            other = rank(imported)
            if other is not None and other > own:
                upward.append(f"{path.relative_to(ROOT)}:{line} ({module}, layer {own}) imports {imported} "
                              f"(layer {other})")
    assert not upward, "imports upwards:\n" + "\n".join(upward)


def test_the_libraries_never_import_dagster():
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {imported}"
        for module, path in MODULES.items()
        if module.split(".")[0] in ("c360", "connectors")
        for line, imported in imported_modules(module, path)
        if imported.split(".")[0] == "dagster" or imported.startswith("dagster_")
    ]
    assert not found, "\n".join(found)


def _excused(function: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> bool:
    first = function.body[0]
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        return LONG_FUNCTION_EXCUSE in first.value.value.strip().splitlines()[0]
    # a comment line before the first statement of the body
    before_body = lines[function.lineno - 1 : first.lineno - 1]
    return any(line.strip().startswith("#") and LONG_FUNCTION_EXCUSE in line for line in before_body)


def test_no_function_is_too_long():
    too_long = []
    for path in MODULES.values():
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text, filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES and not _excused(node, lines):
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines")
    assert not too_long, f"longer than {MAX_FUNCTION_LINES} lines:\n" + "\n".join(too_long)


ENVIRONMENT_ACCESS = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def test_only_the_settings_read_the_environment():
    """Every environment variable is read in `c360.settings`, where its name, default and README row
    are kept together."""
    found = []
    for module, path in MODULES.items():
        if module == "c360.settings":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT_ACCESS
                    and isinstance(node.value, ast.Name) and node.value.id == "os"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} os.{node.attr}")
            elif isinstance(node, ast.ImportFrom) and node.module == "os":
                found += [f"{path.relative_to(ROOT)}:{node.lineno} from os import {alias.name}"
                          for alias in node.names if alias.name in ENVIRONMENT_ACCESS]
    assert not found, "read the environment outside c360/settings.py:\n" + "\n".join(found)


def test_every_setting_is_in_the_readme():
    """Each environment variable `c360.settings` names has a row in the README's configuration table."""
    text = (ROOT / "c360" / "settings.py").read_text()
    names = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if (node.value.isupper() and node.value.replace("_", "").isalnum() and "_" in node.value
                    and not node.value.startswith("_")):
                names.add(node.value)
    names |= {f"{system.upper()}_API_URL" for system in ("shop", "erp", "helpdesk", "accounting")}
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration"):]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    missing = sorted(name for name in names if not any(f"`{name}`" in row for row in rows))
    assert not missing, f"settings without a row in the README's configuration table: {missing}"
