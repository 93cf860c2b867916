"""The name catalogue that lets config validation skip importing Keras must match the installed Keras."""

import subprocess
import sys

from tests.conftest import ROOT


def test_catalog_matches_installed_keras() -> None:
    generated = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_catalog.py")], capture_output=True, text=True, check=True
    ).stdout
    assert generated == (ROOT / "fashionlab" / "_catalog.py").read_text(), (
        "fashionlab/_catalog.py is stale: python scripts/gen_catalog.py > fashionlab/_catalog.py"
    )
