"""requirements.lock (what is installed) agrees with requirements.txt (what the project asks for):
every direct dependency is pinned in the lock, with hashes, at a version inside its range.
A requirements.txt edited without `make lock` fails here, before an install can drift.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def direct_requirements(text: str) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [Requirement(line) for line in lines if line]


def locked_pins(text: str) -> dict[str, tuple[Version, int]]:
    """Package -> (pinned version, number of hashes) from a lock made with --generate-hashes; a package
    pinned once per Python range (`name==v ; python_full_version < '3.11'`) gives its newest pin and the
    fewest hashes of its pins."""
    pins: dict[str, tuple[Version, int]] = {}
    for block in re.split(r"\n(?=\S)", text):
        match = re.match(r"([A-Za-z0-9._-]+)==([^\s;]+)", block)
        if match:
            name, pin = canonicalize_name(match[1]), (Version(match[2]), block.count("--hash=sha256:"))
            seen = pins.get(name, pin)
            pins[name] = (max(seen[0], pin[0]), min(seen[1], pin[1]))
    return pins


def all_locked_versions(text: str) -> dict[str, list[Version]]:
    """Package -> every version the lock pins it at (one per Python range)."""
    versions: dict[str, list[Version]] = {}
    for match in re.finditer(r"^([A-Za-z0-9._-]+)==([^\s;]+)", text, re.M):
        versions.setdefault(canonicalize_name(match[1]), []).append(Version(match[2]))
    return versions


def lock_problems(requirements: str, lock: str) -> list[str]:
    pins, problems = locked_pins(lock), []
    for requirement in direct_requirements(requirements):
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement.name} is not in requirements.lock")
            continue
        version, hashes = pins[name]
        for pinned in all_locked_versions(lock)[name]:
            if not requirement.specifier.contains(pinned, prereleases=True):
                problems.append(f"{requirement.name}=={pinned} in the lock is outside {requirement.specifier}")
        if hashes == 0:
            problems.append(f"{requirement.name} has no hash in the lock")
    return problems


def test_every_direct_dependency_is_locked_inside_its_range_with_hashes():
    problems = lock_problems((ROOT / "requirements.txt").read_text(encoding="utf-8"),
                             (ROOT / "requirements.lock").read_text(encoding="utf-8"))
    assert not problems, "\n".join(problems) + "\nrun `make lock` (README: Updating the dependencies)"
    pins = locked_pins((ROOT / "requirements.lock").read_text(encoding="utf-8"))
    assert pins["torch"][0] == Version("2.14.1") and pins["torchvision"][0] == Version("0.29.2")
    assert Version("1.6") <= pins["mkdocs"][0] < Version("2"), "the site needs MkDocs 1.x"


def test_a_lock_that_drifted_from_the_requirements_is_reported():
    lock = "mkdocs==2.0.0 \\\n    --hash=sha256:ab\n    # via -r requirements.txt\ntorch==2.14.1\n"
    problems = lock_problems("mkdocs>=1.6,<2\ntorch==2.14.1\nplaywright>=1.50\n", lock)
    assert problems == ["mkdocs==2.0.0 in the lock is outside <2,>=1.6", "torch has no hash in the lock",
                        "playwright is not in requirements.lock"]


def test_a_package_pinned_once_per_python_range_is_checked_at_every_pin():
    lock = ("mkdocs==1.6.1 ; python_full_version < '3.11' \\\n    --hash=sha256:ab\n"
            "mkdocs==2.0.0 ; python_full_version >= '3.11' \\\n    --hash=sha256:cd\n")
    assert lock_problems("mkdocs>=1.6,<2\n", lock) == ["mkdocs==2.0.0 in the lock is outside <2,>=1.6"]


# ---- the lock installs on every Python the project supports ---------------------------------

def supported_range() -> tuple[str, str]:
    """(oldest, newest) supported minor version, as the Makefile says (`make install` refuses any other)."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return tuple(re.search(rf"^PYTHON_{which} := (\S+)$", makefile, re.M)[1] for which in ("OLDEST", "NEWEST"))


def supported_pythons() -> list[str]:
    """Every supported minor version (x.y.0), and Debian 12's own 3.11.2, which older pins did not fit."""
    oldest, newest = (Version(v) for v in supported_range())
    return sorted({*(f"3.{minor}.0" for minor in range(oldest.minor, newest.minor + 1)), "3.11.2"}, key=Version)


def test_pyproject_and_readme_claim_the_pythons_the_makefile_supports():
    claimed = SpecifierSet(re.search(r'^requires-python = "([^"]+)"',
                                     (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M)[1])
    oldest, newest = supported_range()
    for minor in range(6, 20):
        for patch in (0, 2, 9):
            supported = Version(oldest) <= Version(f"3.{minor}") <= Version(newest)
            assert (f"3.{minor}.{patch}" in claimed) == supported, f"requires-python {claimed} and 3.{minor}.{patch}"
    assert f"Python {oldest} to {newest}" in (ROOT / "README.md").read_text(encoding="utf-8")


def _uv() -> str:
    # The venv's own uv (requirements.txt installs it), else one on PATH.
    found = shutil.which("uv", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if found is None:
        pytest.skip("uv is not installed (`make install` installs it), so the lock was not resolved for each Python")
    return found


def resolve_lock(folder: Path) -> None:
    """Each supported Python's resolution of the lock, (exit code, stderr), into
    folder/resolutions.json. A resolution from the packages' metadata only (no wheel is downloaded):
    a pin whose Requires-Python excludes that Python fails here as pip's resolver would at install
    time. They run side by side, since each mostly waits on the package index."""
    uv = _uv()
    started = {python: subprocess.Popen([uv, "pip", "compile", "--quiet", "--python-version", python,
                                         "--python-platform", "x86_64-manylinux_2_28", "--output-file", os.devnull,
                                         str(ROOT / "requirements.lock")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for python in supported_pythons()}
    # communicate() reads stderr while it waits: a full pipe never blocks a resolver
    stderr = {python: process.communicate(timeout=300)[1] for python, process in started.items()}
    (folder / "resolutions.json").write_text(json.dumps(
        {python: [process.returncode, stderr[python]] for python, process in started.items()}), encoding="utf-8")


@pytest.fixture(scope="module")
def resolutions(tmp_path_factory) -> dict[str, tuple[int, str]]:
    """resolve_lock's results, made once for all test workers (tests/support/shared.py)."""
    from support.shared import made_once

    _uv()   # skips here, in the test, when uv is missing
    folder = made_once(tmp_path_factory, "lock-resolutions", resolve_lock)
    return {python: tuple(result) for python, result in
            json.loads((folder / "resolutions.json").read_text(encoding="utf-8")).items()}


@pytest.mark.parametrize("python", supported_pythons())
def test_the_lock_resolves_on_every_supported_python(python, resolutions):
    """requirements.lock resolves on every supported Python, Debian 12's 3.11.2 included."""
    code, stderr = resolutions[python]
    if code != 0 and re.search(r"Failed to fetch|error sending request|dns error|connect", stderr):
        pytest.skip(f"the package index is not reachable, so the lock was not resolved for Python {python}")
    assert code == 0, f"requirements.lock does not resolve on Python {python}:\n{stderr}"


def test_make_install_refuses_an_unsupported_python_in_one_line(tmp_path):
    """`make install` with a Python outside the supported range stops in one line before pip starts."""
    # This Python, made to report itself as 3.9 (a real old Python may be missing from the machine).
    fake = tmp_path / "site"
    fake.mkdir()
    (fake / "sitecustomize.py").write_text("import sys\nsys.version_info = (3, 9, 18, 'final', 0)\n", encoding="utf-8")
    venv = tmp_path / "venv"
    result = subprocess.run(["make", "--no-print-directory", "install", f"VENV={venv}", f"PYTHON={sys.executable}"],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(fake)}, capture_output=True, text=True,
                            timeout=60)
    oldest, newest = supported_range()
    assert result.returncode == 2
    assert result.stdout == "" and result.stderr.count("\n") == 1, result.stdout + result.stderr
    assert f"is Python 3.9, but this project supports Python {oldest} to {newest}" in result.stderr
    assert not venv.exists()      # no venv made, no pip started


def test_make_install_refuses_a_disk_too_small_for_the_environment_in_one_line(tmp_path):
    """`make install` with less free disk than the environment takes stops in one line before a venv is made."""
    venv = tmp_path / "venv"
    needed_mb = 10 ** 12      # more than any disk has free
    result = subprocess.run(["make", "--no-print-directory", "install", f"VENV={venv}", f"PYTHON={sys.executable}",
                             f"VENV_MB={needed_mb}"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 2, result.stdout + result.stderr   # the line, then make's own
    first = result.stderr.splitlines()[0]
    assert re.fullmatch(rf"only \d+ MB free on the disk of {re.escape(str(ROOT))}, and the Python environment "
                        rf"takes about {needed_mb} MB: free some space \(or clone the project onto a larger disk\) "
                        r"and run make again", first), first
    assert not venv.exists()
