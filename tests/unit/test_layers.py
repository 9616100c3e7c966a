"""The layer rules: the protocol layer imports no gevent, sockets or websocket-client, and no
module of the package imports itself back through others. No greenlets, no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import geventws
from geventws.exceptions import InvalidURL
from geventws.protocol.options import make_options
from geventws.protocol.uri import parse_uri

PACKAGE = Path(geventws.__file__).resolve().parent

# -- the pure modules import neither gevent nor websocket -----------------------------------------

PROTOCOL_MODULES = sorted(
    ".".join(("protocol", *path.relative_to(PACKAGE / "protocol").with_suffix("").parts)).removesuffix(
        ".__init__"
    )
    for path in (PACKAGE / "protocol").rglob("*.py")
)
PURE = ["exceptions", *PROTOCOL_MODULES]
FORBIDDEN = {"gevent", "greenlet", "websocket", "socket"}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run, i.e. not under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _source(module: str) -> Path:
    """The file of ``module``, a dotted name inside the package (``protocol.uri``)."""
    path = PACKAGE.joinpath(*module.split("."))
    return path.with_suffix(".py") if path.with_suffix(".py").exists() else path / "__init__.py"


def _imports(module: str) -> tuple[set[str], set[str]]:
    """Top-level names of absolute imports, and geventws modules (dotted, inside the
    package) imported, by ``module``."""
    path = _source(module)
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")
    absolute: set[str] = set()
    relative: set[str] = set()

    def add_inside(parts: list[str]) -> None:
        relative.add(".".join(parts) if parts else "__init__")

    for node in _runtime_imports(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "geventws":
                    add_inside(parts[1:])
                else:
                    absolute.add(parts[0])
        elif node.level:
            base = package[: len(package) - (node.level - 1)]
            assert len(package) - (node.level - 1) >= 0, f"{module}: import from above the package"
            if node.module:
                add_inside([*base, *node.module.split(".")])
            else:
                for alias in node.names:
                    candidate = ".".join([*base, alias.name])
                    add_inside(candidate.split(".") if _source(candidate).exists() else base)
        elif node.module:
            parts = node.module.split(".")
            if parts[0] == "geventws":
                add_inside(parts[1:])
            else:
                absolute.add(parts[0])
    return absolute, relative


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_neither_gevent_nor_websocket(module: str) -> None:
    # Follows imports of other geventws modules: importing one that uses gevent counts.
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        assert _source(name).exists(), f"{name} is imported but not found"
        absolute, relative = _imports(name)
        chain = name if name == module else f"{name} (imported via {module})"
        assert not absolute & FORBIDDEN, f"{chain} imports {sorted(absolute & FORBIDDEN)}"
        todo.extend(relative)


def test_every_protocol_module_is_checked() -> None:
    expected = {"protocol", "protocol.parser", "protocol.closing", "protocol.events", "protocol.codes"}
    assert expected <= set(PURE)


def _package_modules() -> list[str]:
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules.append(".".join(parts) if parts else "__init__")
    return modules


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as a path that starts and ends with the same node, if any."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        for child in sorted(graph.get(node, ())):
            cycle = visit(child)
            if cycle is not None:
                return cycle
        path.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node)
        if cycle is not None:
            return cycle
    return None


def test_no_import_cycle_in_the_package() -> None:
    # The package's __init__ imports the public names of every layer; below it, imports
    # go one way only (protocol <- runtime <- connection <- runner).
    graph = {module: _imports(module)[1] - {"__init__"} for module in _package_modules()}
    assert _find_cycle(graph) is None, f"import cycle: {' -> '.join(_find_cycle(graph) or [])}"


def test_cycle_finder_finds_cycles() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_import_checker_sees_gevent_and_websocket() -> None:
    # The checker itself must be able to fail: the impure modules are caught...
    assert "gevent" in _imports("connection")[0]
    # ...and type-only imports are not counted.
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import gevent\nelse:\n    import os\n"
    )
    assert [ast.unparse(n) for n in _runtime_imports(tree)] == [
        "from typing import TYPE_CHECKING",
        "import os",
    ]


def test_credentials_never_appear_in_errors_or_reprs() -> None:
    with pytest.raises(InvalidURL) as info:
        parse_uri("wss://alice:s3cret@/nohost")
    assert "s3cret" not in str(info.value)
    options = make_options("ws://alice:s3cret@example.com/")
    assert "s3cret" not in repr(options)
    assert "s3cret" not in repr(options.uri)
