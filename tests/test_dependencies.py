"""The package's layers: the plumbing (code/vae/plumbing/) sits below the chapters and imports none of them."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "code" / "vae"


def _imported(path: Path) -> set[str]:
    """The vae modules a file imports, anywhere in it (lazy imports included), as absolute names."""
    package = ["vae", *path.parent.relative_to(PACKAGE).parts]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("vae.")}


def test_the_plumbing_imports_nothing_from_the_chapters():
    files = sorted((PACKAGE / "plumbing").glob("*.py"))
    assert len(files) > 5
    upward = {f"plumbing/{f.name}": sorted(n for n in _imported(f) if not n.startswith("vae.plumbing."))
              for f in files}
    assert {f: names for f, names in upward.items() if names} == {}
