"""docs/includes/robustness.md is generated from tests/test_reliability_*.py and must match it."""

import re
import subprocess
import sys

import robustness_cases


def test_the_robustness_include_is_up_to_date_with_the_reliability_tests():
    for language, include in robustness_cases.INCLUDES.items():
        assert include.read_text(encoding="utf-8") == robustness_cases.render(language), \
            f"{include.name} is out of date: run `python tests/robustness_cases.py`"


def test_the_case_count_of_the_include_is_the_number_of_tests_pytest_collects(repo_root, subprocess_env):
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                *[str(p.relative_to(repo_root)) for p in robustness_cases.TESTS]], cwd=repo_root, env=subprocess_env,
                               capture_output=True, text=True, timeout=300)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    ids = [line for line in collected.stdout.splitlines() if line.startswith("tests/test_reliability_") and "::" in line]
    total = sum(n for _, _, n in robustness_cases.rows())
    assert len(ids) == total
    assert re.search(rf"\*\*{total} cases\*\* \({len(robustness_cases.rows())} tests\)", robustness_cases.render())

