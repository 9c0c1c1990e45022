"""``cauce.core`` is what the apps share: it imports none of them (arrows point one way).

Shared helpers live in core; a feature app that needs another's helper moves the helper
down into core, not the import up. The tests of core may use the apps; its code may not.
"""

import ast
from pathlib import Path

import cauce

CORE = Path(cauce.__file__).parent / "core"
# The packages under cauce/ that core may import: itself and the MLflow adapter.
ALLOWED = {"cauce.core", "cauce.integrations"}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):  # every import, also those inside functions
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def _feature_imports(path: Path) -> list[str]:
    return sorted(
        module
        for module in _imported_modules(path)
        if module.startswith("cauce.")
        and not any(module == allowed or module.startswith(allowed + ".") for allowed in ALLOWED)
    )


def test_core_imports_no_feature_app():
    offenders = {
        str(path.relative_to(CORE)): found
        for path in sorted(CORE.rglob("*.py"))
        if "tests" not in path.relative_to(CORE).parts and (found := _feature_imports(path))
    }
    assert offenders == {}


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "from cauce.core.exceptions import ApplicationError\n"
        "def f():\n"
        "    from cauce.registry.models import RegisteredModel\n"
        "    import cauce.experiments.models\n"
    )
    assert _feature_imports(module) == [
        "cauce.experiments.models",
        "cauce.registry.models",
        "cauce.registry.models.RegisteredModel",
    ]
