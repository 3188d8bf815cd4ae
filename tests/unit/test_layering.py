"""The layers of ``app/`` as the imports draw them: engines, the cluster clients and
placement load no Flask; a role's service loads no other role, nor a node's app the
master's front ends; packages import nothing when imported; no module is part of an import
circle.

Each import check runs in a fresh interpreter: ``sys.modules`` of the test run holds
everything every test imported.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import app

APP = Path(app.__file__).parent
ROOT = APP.parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(APP.rglob("*.py"))}


def _modules_under(package: str) -> list[str]:
    return sorted(name for name in MODULES if name.startswith(f"{package}."))


def _loaded_after(modules: list[str]) -> set[str]:
    """The modules a fresh interpreter holds once it has imported ``modules``."""
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print('\\n'.join(sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


# Each must be usable without Flask: the engines (every module of theirs), the clients of
# nodes and masters, placement, and the command-line client.
WITHOUT_FLASK = {
    "app.storage": _modules_under("app.storage") or ["app.storage"],
    "app.metadata": _modules_under("app.metadata"),
    # The metric families and their exposition: the overlay counts into them, below Flask.
    "app.metrics": _modules_under("app.metrics"),
    "app.cluster.node_client": ["app.cluster.node_client"],
    "app.cluster.master_client": ["app.cluster.master_client"],
    "app.master.placement": ["app.master.placement"],
    "app.client": ["app.client.cli.root", "app.client.api"],
    # The thumbnail engine and its service (their Flask glue: current.py, wiring.py).
    "app.previews": [
        "app.previews.thumbnails",
        "app.previews.thumbnail_cache",
        "app.previews.service",
    ],
}


@pytest.mark.parametrize("modules", WITHOUT_FLASK.values(), ids=WITHOUT_FLASK.keys())
def test_imports_no_flask(modules):
    loaded = _loaded_after(modules)
    assert not {name for name in loaded if name.partition(".")[0] in ("flask", "werkzeug")}


def test_placement_loads_only_what_it_uses():
    # 46 app modules on main before #18, Flask and the views among them.
    loaded = {name for name in _loaded_after(["app.master.placement"]) if name in MODULES}
    assert not {name for name in loaded if name.startswith(("app.node", "app.http"))}
    assert loaded <= {"app", "app.master", "app.master.placement"} | set(
        _modules_under("app.metadata")
    ) | {"app.metadata"}


@pytest.mark.parametrize(
    ("service", "other_role"),
    [("app.master.service", "app.node"), ("app.node.service", "app.master")],
)
def test_role_service_loads_no_other_role(service, other_role):
    loaded = _loaded_after([service])
    assert not {name for name in loaded if name == other_role or name.startswith(other_role + ".")}


# What only a master uses and a node's worker used to import at its boot, all of it, through
# the factory: about a third of that boot's CPU.
MASTER_ONLY = ("app.master.service", "app.userfiles.service", "app.api", "flask_limiter", "PIL")


def test_a_node_app_loads_none_of_the_masters_front_ends(tmp_path):
    code = (
        "import sys\n"
        "from app.factory import create_app\n"
        f"create_app('node', {{'DATA_DIR': {str(tmp_path)!r}, 'BACKGROUND_TASKS': False}})\n"
        "print('\\n'.join(sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.split())
    assert "app.node.wiring" in loaded  # the node's own are there
    assert not {
        m for m in loaded for prefix in MASTER_ONLY if m == prefix or m.startswith(prefix + ".")
    }


def _is_docstring_only(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return not body or (
        len(body) == 1
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    )


# app/storage/__init__.py still re-exports the blob store and holds its Protocols until
# the engines' part of #18 moves them into modules of their own; strict, so that this
# entry fails, and goes, once it does.
INITS = [
    pytest.param(path, id=str(path.relative_to(ROOT))) for path in sorted(APP.rglob("__init__.py"))
]


@pytest.mark.parametrize("path", INITS)
def test_package_init_is_empty_or_a_docstring(path):
    assert _is_docstring_only(path), f"{path.relative_to(ROOT)} does more than name its package"


def test_app_package_init_stays_empty():
    assert (APP / "__init__.py").read_text().strip() == ""


def _imports(name: str, path: Path) -> set[str]:
    """The app modules ``name`` imports anywhere in its text: at the top, inside
    functions, under ``TYPE_CHECKING`` (a circle of annotations is a circle too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in MODULES}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:
                    found.add(f"{base}.{alias.name}")
                elif base in MODULES:
                    found.add(base)
    found.discard(name)
    return found


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return circles


def test_no_import_circle():
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    assert _circles(graph) == []


def test_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]
