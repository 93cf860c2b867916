"""The configs that ship with fashionlab (configs/, installed with the package), found by bare name.

`--config adam` or `--config adam.yaml` reads ./adam.yaml when there is one, else the shipped adam.yaml.
"""

from __future__ import annotations

from pathlib import Path

from fashionlab.i18n import _

SHIPPED = Path(__file__).resolve().parent.parent / "configs"


def shipped() -> list[Path]:
    """Every shipped config, by name."""
    return sorted(SHIPPED.glob("*.yaml"), key=lambda p: p.stem) if SHIPPED.is_dir() else []


def description(path: Path) -> str:
    """A config's first comment line (after the editor's schema line): what it is for; in Spanish its `# es:`
    line, where it has one."""
    from fashionlab.i18n import language

    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("# es:"):
            found.setdefault("es", line.removeprefix("# es:").strip())
        elif line.startswith("#") and "yaml-language-server" not in line:
            found.setdefault("en", line.lstrip("# ").strip())
        elif line and not line.startswith("#"):
            break
    return found.get(language(), found.get("en", ""))


def find_config(path: str | Path) -> tuple[Path, str | None]:
    """The file to read for `path`, and for a bare name (no folder) a note saying which file that is."""
    given = Path(path)
    bare = str(given.parent) == "." and not str(path).startswith(".")
    stem = given.stem if given.suffix in (".yaml", ".yml") else given.name
    candidate = SHIPPED / f"{stem}.yaml"
    if not bare or not candidate.is_file():
        return given, None
    if given.is_file():
        if given.resolve() == candidate.resolve():
            return given, None
        return given, _("using {given} from this folder, not the shipped config {stem} ('fashionlab configs')").format(
            given=given, stem=stem
        )
    return candidate, _("using the shipped config {stem} ({path})").format(stem=stem, path=candidate)


def not_found(path: str | Path) -> str:
    names = ", ".join(p.stem for p in shipped())
    return (
        f"config file {path} not found; give a path, or the name of a shipped config ({names}): "
        "'fashionlab configs' describes them"
    )
