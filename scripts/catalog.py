"""Keep the Spanish catalog in step with the source: extract the messages marked _("...") (Babel), merge
them into fashionlab/locale/es/LC_MESSAGES/fashionlab.po, compile the .mo, and list what has no
translation yet. `make catalog` runs it; tests/test_i18n.py fails while anything is untranslated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "fashionlab/locale/es/LC_MESSAGES/fashionlab.po"


def main() -> int:
    pot = ROOT / "build" / "fashionlab.pot"
    pot.parent.mkdir(exist_ok=True)
    pybabel = [sys.executable, "-m", "babel.messages.frontend"]
    subprocess.run([*pybabel, "extract", "-F", "babel.cfg", "-k", "_", "--no-location", "--sort-output",
                    "-o", str(pot), "fashionlab"], cwd=ROOT, check=True)  # fmt: skip
    merge = ["update", "-i", str(pot), "-d", "fashionlab/locale", "-D", "fashionlab", "-l", "es",
             "--no-fuzzy-matching", "--ignore-obsolete", "-w", "100"]  # fmt: skip
    subprocess.run([*pybabel, *merge], cwd=ROOT, check=True)
    subprocess.run([*pybabel, "compile", "-d", "fashionlab/locale", "-D", "fashionlab"], cwd=ROOT, check=True)
    with PO.open("rb") as fh:
        missing = [m.id for m in read_po(fh) if m.id and not m.string]
    for message in missing:
        print(f"untranslated: {message}")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
