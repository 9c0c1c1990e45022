"""The artifact browser's path rules, re-run under the production settings (CAUCE_ENV=production).

Settings are read once per process: the path tests run in a fresh pytest process on
config.settings with production's environment, and must all pass there too.
"""

import re
import subprocess
import sys

from cauce.artifacts.tests import test_paths
from cauce.core.tests.test_production_settings import ROOT, _env

# Every parametrized case of test_paths: rejected paths, kept paths, one content-type test.
EXPECTED = len(test_paths.REJECTED_PATHS) + 9 + 1


def test_the_path_rules_hold_under_production_settings(tmp_path):
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "--ds", "config.settings", "cauce/artifacts/tests/test_paths.py",
        ],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert re.match(rf"^{EXPECTED} passed\b", summary), summary
