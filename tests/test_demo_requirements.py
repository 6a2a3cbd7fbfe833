"""The Space installs only requirements.txt: the demo must run on exactly that.

Installs nothing; checks (1) every requirement is importable here, (2) no demo module imports
a third-party package outside them at module level, and nothing in demo/ ever imports torch,
train, export or matplotlib, (3) the app imports and builds in a fresh interpreter in which
the training stack cannot be imported, started from a working directory outside the repo.
"""

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.paths import REPO

IMPORT_NAME = {"pillow": "PIL"}  # distribution name -> import name where they differ
NEVER_IN_DEMO = {"torch", "train", "export", "bench", "tests", "matplotlib", "torchvision"}
BLOCKED = NEVER_IN_DEMO | {"sklearn", "onnx", "onnxscript", "playwright"}
STDLIB = set(sys.stdlib_module_names)
# The request guard works at gradio's own ASGI layer; gradio requires starlette and
# gradio_client, so the Space has them whenever it has gradio.
SERVED_BY_GRADIO = {"starlette", "gradio_client"}


def requirements() -> dict[str, str]:
    """{distribution name: import name} from the root requirements.txt."""
    names = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name = re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower()
            names[name] = IMPORT_NAME.get(name, name)
    return names


def _names(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name.split(".")[0] for alias in node.names}
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return {node.module.split(".")[0]}
    return set()


def _at_load(node: ast.AST) -> set[str]:
    """Imports executed when the module loads: everything outside function bodies."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        return set()
    found = _names(node)
    for child in ast.iter_child_nodes(node):
        found |= _at_load(child)
    return found


def imports(path: Path) -> tuple[set[str], set[str]]:
    """Top-level package names a source file imports when loaded, and anywhere at all."""
    tree = ast.parse(path.read_text(), filename=str(path))
    anywhere = set().union(*(_names(node) for node in ast.walk(tree)))
    return _at_load(tree), anywhere


def test_requirements_are_the_demo_runtime_and_no_training_stack():
    names = requirements()
    assert set(names) == {"numpy", "onnxruntime", "gradio", "pillow"}
    assert not NEVER_IN_DEMO & set(names)
    pinned = (REPO / "requirements.txt").read_text()
    # A tested range, not a pin: the page uses only gr.HTML's documented extension points.
    assert re.search(r"^gradio>=6\.31,<7$", pinned, re.M), "the e2e tests run gradio 6.31"


@pytest.mark.parametrize("import_name", sorted(set(requirements().values())))
def test_each_requirement_is_importable(import_name):
    importlib.import_module(import_name)


@pytest.mark.parametrize("path", sorted((REPO / "demo").glob("*.py")), ids=lambda p: p.name)
def test_demo_modules_import_only_the_runtime(path):
    allowed = set(requirements().values()) | {"demo"} | STDLIB | SERVED_BY_GRADIO
    module_level, anywhere = imports(path)
    assert module_level <= allowed, f"{path.name} imports {module_level - allowed} at load"
    assert not anywhere & NEVER_IN_DEMO, f"{path.name} imports {anywhere & NEVER_IN_DEMO}"


BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"{{name}} is not in the Space's requirements")
sys.meta_path.insert(0, Block())
import runpy
page = runpy.run_path({app!r}, run_name="space_check")
page["build_demo"]()
import demo.app
print("demo.app from", demo.app.__file__)
print("loaded", sorted({{m.split(".")[0] for m in sys.modules}} & {blocked!r}))
"""


@pytest.mark.slow
def test_app_builds_without_the_training_stack_from_any_directory(tmp_path):
    code = BLOCKER.format(blocked=BLOCKED, app=str(REPO / "demo" / "app.py"))
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "loaded []" in run.stdout
