"""requirements.lock (what is installed) agrees with requirements.txt (what the project asks for):
every direct dependency is pinned in the lock, with hashes, at a version inside its range.
A requirements.txt edited without `make lock` fails here, before an install can drift.
"""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def direct_requirements(text: str) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [Requirement(line) for line in lines if line]


def locked_pins(text: str) -> dict[str, tuple[Version, int]]:
    """Package -> (pinned version, number of hashes) from a pip-compile --generate-hashes file."""
    pins = {}
    for block in re.split(r"\n(?=\S)", text):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if match:
            pins[canonicalize_name(match[1])] = (Version(match[2]), block.count("--hash=sha256:"))
    return pins


def lock_problems(requirements: str, lock: str) -> list[str]:
    pins, problems = locked_pins(lock), []
    for requirement in direct_requirements(requirements):
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement.name} is not in requirements.lock")
            continue
        version, hashes = pins[name]
        if not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} in the lock is outside {requirement.specifier}")
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
