"""Imports run one way: app -> pages -> services, with services/store at the bottom.

An AST scan of every module under app/, pages/ and services/ (imports inside functions and
`if TYPE_CHECKING:` blocks count too). Each rule below names the modules that break it, so a
failure says which import to move. Relative imports are resolved to absolute names first.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOP_PACKAGES = ("app", "pages", "services")

ROOMS = ("deploy", "detect", "admin", "views", "auth")
OUTSIDE_SYSTEMS = ("docker_engine", "registry", "npm", "notify")
# The shared top-level modules the store may use: plain values and rules that import no store,
# room or outside system themselves (checked by `shared_modules_stay_shared`). `services.fields`
# gives the columns the settings' defaults, the same ones the forms, API and seed format use.
STORE_MAY_IMPORT = ("services.errors", "services.secrets", "services.types", "services.fields")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. services.npm.provider
    target: str  # what it imports, absolute, e.g. services.deploy.routing.ProxyTarget
    line: int

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_in(root: Path, path: Path) -> Iterator[Import]:
    """Every name a module imports; `from a import b` gives both `a` and `a.b`."""
    module = module_name(root, path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(package, node.module, node.level)
            yield Import(module, base, node.lineno)
            for alias in node.names:
                yield Import(module, f"{base}.{alias.name}", node.lineno)


def _absolute(package: str, name: str | None, level: int) -> str:
    if level == 0:
        return name or ""
    parts = package.split(".")
    anchor = parts[: len(parts) - (level - 1)]
    return ".".join([*anchor, name] if name else anchor)


def all_imports(root: Path) -> list[Import]:
    found: list[Import] = []
    for top in TOP_PACKAGES:
        for path in sorted((root / top).rglob("*.py")):
            if "migrations" not in path.relative_to(root).parts:
                found.extend(imports_in(root, path))
    return found


def within(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(f"{p}.") for p in packages)


def _shared_module(name: str) -> bool:
    """A top-level module of services/ (services.errors, services.tags, ...)."""
    parts = name.split(".")
    return len(parts) == 2 and parts[0] == "services" and parts[1] not in (*ROOMS, *OUTSIDE_SYSTEMS)


# ---------------------------------------------------------------- the rules


def services_never_import_the_layers_above(imp: Import) -> bool:
    return within(imp.module, "services") and within(imp.target, "app", "pages")


def pages_never_import_app(imp: Import) -> bool:
    return within(imp.module, "pages") and within(imp.target, "app")


def nicegui_stays_above_services(imp: Import) -> bool:
    return within(imp.module, "services") and within(imp.target, "nicegui")


def store_is_the_bottom(imp: Import) -> bool:
    """services/store imports no other part of services but a few shared value modules."""
    if not within(imp.module, "services.store") or not within(imp.target, "services"):
        return False
    return not within(imp.target, "services.store", *STORE_MAY_IMPORT) and imp.target != "services"


def outside_systems_import_no_room(imp: Import) -> bool:
    """An adapter (engine, registry, NPM, notifier) knows nothing of deploying or detecting."""
    adapters = tuple(f"services.{name}" for name in OUTSIDE_SYSTEMS)
    rooms = tuple(f"services.{name}" for name in ROOMS)
    return within(imp.module, *adapters) and within(imp.target, *rooms)


def shared_modules_stay_shared(imp: Import) -> bool:
    """The shared top-level modules use the store and each other, never a room or an adapter."""
    others = tuple(f"services.{name}" for name in (*ROOMS, *OUTSIDE_SYSTEMS))
    return _shared_module(imp.module) and within(imp.target, *others)


def docker_py_only_in_its_adapter(imp: Import) -> bool:
    return within(imp.target, "docker") and not within(imp.module, "services.docker_engine")


RULES = (
    services_never_import_the_layers_above,
    pages_never_import_app,
    nicegui_stays_above_services,
    store_is_the_bottom,
    outside_systems_import_no_room,
    shared_modules_stay_shared,
    docker_py_only_in_its_adapter,
)


Rule = Callable[[Import], bool]


def broken(rule: Rule, imports: list[Import]) -> list[str]:
    return sorted({str(imp) for imp in imports if rule(imp)})


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return all_imports(ROOT)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_imports_run_one_way(rule: Rule, imports: list[Import]) -> None:
    assert broken(rule, imports) == []


def test_the_scan_reads_the_whole_tree(imports: list[Import]) -> None:
    """Guards the guard: an empty or partial scan would pass every rule."""
    modules = {imp.module for imp in imports}
    assert {"app.main", "pages.layout", "services.store.db", "services.npm.client"} <= modules


def test_the_scan_catches_a_wrong_way_import(tmp_path: Path) -> None:
    """Absolute, relative and function-level imports against the direction are all seen."""
    (tmp_path / "services" / "npm").mkdir(parents=True)
    (tmp_path / "services" / "store").mkdir(parents=True)
    (tmp_path / "pages").mkdir()
    (tmp_path / "app").mkdir()
    (tmp_path / "services" / "npm" / "bad.py").write_text("from ..deploy import routing\n")
    (tmp_path / "services" / "store" / "bad.py").write_text(
        "def f():\n    from services.tags import x\n    import nicegui\n"
    )
    (tmp_path / "pages" / "bad.py").write_text("from app import auth_guard\n")
    found = all_imports(tmp_path)
    assert broken(outside_systems_import_no_room, found) == [
        "services.npm.bad:1 imports services.deploy",
        "services.npm.bad:1 imports services.deploy.routing",
    ]
    assert broken(store_is_the_bottom, found) == [
        "services.store.bad:2 imports services.tags",
        "services.store.bad:2 imports services.tags.x",
    ]
    assert broken(nicegui_stays_above_services, found) == ["services.store.bad:3 imports nicegui"]
    assert broken(pages_never_import_app, found) == [
        "pages.bad:1 imports app",
        "pages.bad:1 imports app.auth_guard",
    ]
