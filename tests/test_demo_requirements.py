"""The Space installs only requirements.txt: the demo must run on exactly that.

Installs nothing; checks (1) requirements.txt, pyproject.toml's dependencies and the Space's
front matter in README.md agree, every range is bounded above and holds what is installed here,
(2) every requirement is importable, (3) no demo module imports a third-party package outside
them at module level, and nothing in demo/ ever imports torch, train, export or matplotlib,
(4) the app imports and builds in a fresh interpreter in which the training stack cannot be
imported, started from a working directory outside the repo.
"""

import ast
import importlib
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from bench.paths import REPO

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the Space runs 3.11

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


def _ranges(lines: list[str]) -> dict[str, Requirement]:
    parsed = (Requirement(line.split("#")[0].strip()) for line in lines)
    return {requirement.name.lower(): requirement for requirement in parsed if requirement.name}


def space_ranges() -> dict[str, Requirement]:
    lines = (REPO / "requirements.txt").read_text().splitlines()
    return _ranges([line for line in lines if line.split("#")[0].strip()])


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def front_matter() -> dict[str, str]:
    """The Hugging Face Space's settings: the YAML block at the top of README.md."""
    text = (REPO / "README.md").read_text()
    assert text.startswith("---\n"), "README.md must open with the Space's front matter"
    block = text[4 : text.index("\n---\n", 4)]
    pairs = (line.split(":", 1) for line in block.splitlines() if ":" in line)
    return {key.strip(): value.strip().strip('"') for key, value in pairs}


def test_requirements_and_pyproject_name_the_same_ranges():
    packaged = _ranges(pyproject()["project"]["dependencies"])
    assert {name: str(r.specifier) for name, r in space_ranges().items()} == {
        name: str(r.specifier) for name, r in packaged.items()
    }


@pytest.mark.parametrize("name", sorted(space_ranges()))
def test_every_runtime_range_is_bounded_above_and_holds_what_is_installed(name):
    requirement = space_ranges()[name]
    assert any(spec.operator == "<" for spec in requirement.specifier), f"{name} has no ceiling"
    installed = importlib.metadata.version(name)
    assert requirement.specifier.contains(installed), f"{name} {installed} is outside its range"


def test_the_space_front_matter_matches_the_ranges():
    space = front_matter()
    assert space["sdk"] == "gradio" and space["app_file"] == "demo/app.py"
    assert space_ranges()["gradio"].specifier.contains(space["sdk_version"])
    python = pyproject()["project"]["requires-python"]
    assert Version(space["python_version"]) in Requirement(f"python{python}").specifier


def test_the_training_extra_holds_the_installed_torch():
    pytest.importorskip("torch")
    extra = _ranges(pyproject()["project"]["optional-dependencies"]["train"])
    installed = Version(importlib.metadata.version("torch")).base_version
    assert extra["torch"].specifier.contains(installed)


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
