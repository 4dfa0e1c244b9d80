"""Dependencies point one way (docs/design.md, "Layers"): every import under ``app/`` is read
from the source, lazy and type-only imports included, and checked against the layer order."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import REPO_ROOT

APP = REPO_ROOT / "app"

# Bottom to top. A module may import its own package and anything in a lower layer; packages that
# share a layer stay out of each other's way.
LAYERS: list[tuple[str, ...]] = [
    ("app.settings", "app.errors", "app.metrics", "app.logs"),
    ("app.video", "app.model", "app.postprocess"),
    ("app.inference",),
    ("app.cache",),
    ("app.analysis",),
    ("app.jobs", "app.library"),
    ("app.service",),
    ("app.api",),
    ("app.main",),
    ("app.cli",),  # the entry point: serves app.main by name, starts the service for the worker
]

# Third-party packages a unit must never import, with why.
FORBIDDEN: dict[str, dict[str, str]] = {
    unit: {"fastapi": "HTTP lives in app.api", "starlette": "HTTP lives in app.api"}
    for unit in ("app.video", "app.model", "app.postprocess", "app.inference", "app.cache",
                 "app.analysis", "app.jobs", "app.library", "app.service")
}
for unit in ("app.video", "app.cache", "app.postprocess", "app.library"):
    FORBIDDEN[unit]["torch"] = "only the model side runs torch"
for unit in ("app.model", "app.postprocess", "app.cache", "app.analysis", "app.jobs", "app.library",
             "app.service", "app.api", "app.main", "app.inference"):
    FORBIDDEN.setdefault(unit, {})["av"] = "PyAV is for app.video, in the decode processes"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, package: str = "") -> set[str]:
    """Every module ``path`` (in ``package``) names in an import statement, anywhere in it."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
    return found


def unit_of(module: str) -> str | None:
    for layer in LAYERS:
        for unit in layer:
            if module == unit or module.startswith(unit + "."):
                return unit
    return None


def layer_of(unit: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if unit in layer)


def app_modules() -> list[Path]:
    return sorted(APP.rglob("*.py"))


def test_every_module_belongs_to_a_layer() -> None:
    orphans = [module_name(p) for p in app_modules()
               if module_name(p) != "app" and unit_of(module_name(p)) is None]
    assert orphans == [], f"add these to LAYERS: {orphans}"


@pytest.mark.parametrize("path", app_modules(), ids=lambda p: module_name(p))
def test_imports_point_down(path: Path) -> None:
    me = module_name(path)
    my_unit = unit_of(me)
    if my_unit is None:
        return
    wrong = []
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    for target in sorted(imports_of(path, package)):
        top = target.split(".")[0]
        if top in FORBIDDEN.get(my_unit, {}):
            wrong.append(f"{target} ({FORBIDDEN[my_unit][top]})")
            continue
        other = unit_of(target)
        if other is None or other == my_unit:
            continue
        if layer_of(other) >= layer_of(my_unit):
            wrong.append(f"{target} (layer {layer_of(other)} from layer {layer_of(my_unit)})")
    assert wrong == [], f"{me} imports upward or sideways: {wrong}"


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    # The walker must see a lazy import inside a function, not only top-level ones.
    source = tmp_path / "probe_module.py"
    source.write_text("def f():\n    from app.api.routes import router\n    return router\n")
    assert "app.api.routes" in imports_of(source)


def test_the_api_process_loads_no_pyav() -> None:
    """Importing the whole app (as ``videobert serve`` does) must not map FFmpeg: PyAV is for
    the decode processes."""
    code = "import sys, app.main, app.cli; print('av' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False", out.stderr
