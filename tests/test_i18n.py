"""The results in the student's language: the Spanish catalog is complete, compiled and used everywhere
the report, the summaries and the observations speak."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from fashionlab import i18n
from tests.conftest import Cli

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "fashionlab/locale/es/LC_MESSAGES/fashionlab.po"
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _source_messages() -> set[str]:
    found = extract_from_dir(str(ROOT / "fashionlab"), method_map=[("**.py", "python")], keywords={"_": None})
    return {message for _file, _line, message, _comments, _context in found if message}


def _catalog() -> dict[str, str]:
    with PO.open("rb") as fh:
        return {m.id: m.string for m in read_po(fh) if m.id and not m.fuzzy}


def test_every_message_has_a_spanish_translation_with_its_placeholders() -> None:
    marked, catalog = _source_messages(), _catalog()
    assert len(marked) > 150
    untranslated = sorted(m for m in marked if not catalog.get(m))
    assert not untranslated, f"untranslated (run make catalog and translate): {untranslated[:5]}"
    for english in marked:
        assert set(PLACEHOLDER.findall(english)) == set(PLACEHOLDER.findall(catalog[english])), english


def test_the_compiled_catalog_is_the_po_file() -> None:
    compiled = gettext.translation(i18n.DOMAIN, i18n.LOCALE_DIR, languages=["es"])
    for english, spanish in _catalog().items():
        assert compiled.gettext(english) == spanish, f"stale .mo (run make catalog): {english}"


def test_the_lab_terms_are_the_labs() -> None:
    catalog = _catalog()
    assert catalog["epoch"] == "época" and catalog["test loss"] == "pérdida de prueba"
    assert "exactitud" in catalog["test accuracy"] and catalog["overfit"] == "sobreajuste"
    assert catalog["setting"] == "configuración" and catalog["1 trial"] == "1 ensayo"  # not ajuste, not prueba
    assert not [s for s in catalog.values() if re.search(r"(?<!-\n)\bajustes?\b|\bpruebas\b", s)], "ajuste/pruebas left"
    assert (
        "conjunto de validación"
        in catalog["No validation split, so overfitting cannot be seen (set validation_split: 0.2)."]
    )


def test_language_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FASHIONLAB_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    assert i18n.from_environment() == "en"
    monkeypatch.setenv("LANG", "es_ES.UTF-8")
    assert i18n.from_environment() == "es"
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    assert i18n.from_environment() == "en"
    monkeypatch.setenv("FASHIONLAB_LANG", "es")
    assert i18n.from_environment() == "es"


def _english_fragments() -> list[str]:
    """The literal parts of every English message that are long enough to be a phrase of their own."""
    out = []
    for message in _source_messages():
        for part in PLACEHOLDER.split(message)[::2]:
            words = re.findall(r"[A-Za-z]{2,}", part)
            if len(words) >= 4 and _catalog()[message] != message:
                out.append(part.strip(" .,;:()"))
    return out


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    cli = Cli(tmp_path_factory.mktemp("es") / "runs")
    result = cli("sweep", "epochs=2,6,10", "train_samples=1200", "test_samples=300", "batch_size=64")
    assert result.exit_code == 0, result.output
    return cli


def test_the_spanish_report_has_no_english_sentence_left(swept: Cli, tmp_path: Path) -> None:
    out = tmp_path / "informe.md"
    result = swept("--lang", "es", "report", "--out", str(out))
    assert result.exit_code == 0, result.output
    text = re.sub(r"```.*?```", "", out.read_text(), flags=re.S)  # the config is YAML, in English keys
    assert "# Informe de laboratorio de Fashion-MNIST" in text and "## Observaciones" in text
    for term in ("época", "pérdida", "exactitud", "conjunto de entrenamiento"):
        assert term in text, term
    left = [fragment for fragment in _english_fragments() if fragment and fragment in text]
    assert not left, left
    prose = [line for line in text.splitlines() if line and not line.startswith(("|", "![", "*"))]
    english_words = [line for line in prose if re.search(r"\b(the|and|with|from|of|is|are|against|added)\b", line)]
    assert not english_words, english_words
    english = swept("report", "--out", str(tmp_path / "report.md"))
    assert english.exit_code == 0 and "## Observations" in (tmp_path / "report.md").read_text()


def test_train_evaluate_and_predict_speak_spanish(swept: Cli) -> None:
    trained = swept("--lang", "es", "train", "train_samples=600", "test_samples=200", "epochs=2")
    assert trained.exit_code == 0, trained.output
    said = " ".join(trained.output.split())
    assert "Datos: 540 imágenes para entrenar" in said and "s/época tras la primera" in said
    assert "Una semilla: no se distingue una configuración de su semilla" in said
    evaluated = " ".join(swept("--lang", "es", "evaluate").stdout.split())
    assert "pérdida de prueba" in evaluated and "Por clase" in evaluated and "Matriz de confusión" in evaluated
    predicted = " ".join(swept("--lang", "es", "predict", "--index", "0").stdout.split())
    assert "Predicción" in predicted and "etiqueta real" in predicted
    assert swept("--lang", "fr", "train").exit_code == 6


def test_lang_is_taken_after_the_command_too(cli: Cli) -> None:
    """`fashionlab data --lang es` once failed: --lang worked only before the command (issue 33)."""
    from fashionlab.cli.usage import global_options_first

    assert global_options_first(["data", "--lang", "es"]) == ["--lang", "es", "data"]
    assert global_options_first(["--runs-dir", "x", "runs", "--lang=es"]) == ["--lang=es", "--runs-dir", "x", "runs"]
    assert global_options_first(["predict", "--", "--lang", "es"]) == ["predict", "--", "--lang", "es"]
    assert global_options_first(["--lang", "es", "data"]) == ["--lang", "es", "data"]
    after = cli("data", "--lang", "es")
    assert after.exit_code == 0, after.output
    assert after.stdout == cli("--lang", "es", "data").stdout and "imágenes de entrenamiento" in after.stdout
    bad = cli("data", "--lang", "xx")
    assert bad.exit_code == 6 and "xx is not known; use en or es" in bad.output


STOP_LIST = (  # what a student read in English with --lang es (issue 33's quotes), now Spanish
    "Training run", "Saved ", "Config: using", "Network '", "Latest completed run", "Accuracy over", "<- predicted",
    "Not shown at", "test acc", "over-", "completed", "Predictions of run", "In: ", "Out: ", "total params",
    "(one training", "All runs", "Runs of ", "Images per class", "to train", "one row per setting", "taken for",
    "vs best", "Shipped configs", "what it is", "Trial ", "stopped:", "already done", "cannot judge", "inconclusive",
    "learned nothing", "Each optimizer",
)  # fmt: skip


def test_the_commands_a_student_runs_speak_spanish_throughout(swept: Cli) -> None:
    """runs, compare, show, data, evaluate --explain, predict of several images and train's progress lines in
    Spanish: none says a phrase of the stop list (issue 33, item 2)."""
    outputs = {
        " ".join(args): swept("--lang", "es", *args)
        for args in (["runs"], ["compare"], ["compare", "--per-seed"], ["show"], ["data"], ["evaluate", "--explain"],
                     ["predict", "--index", "0:5"])
    }  # fmt: skip
    trained = swept("train", "--lang", "es", "train_samples=300", "test_samples=100", "epochs=1")
    outputs["train"] = trained
    for name, result in outputs.items():
        assert result.exit_code == 0, (name, result.output)
        said = result.output
        left = [phrase for phrase in STOP_LIST if phrase in said]
        assert not left, (name, left, said[-600:])
    assert "época 1:" in outputs["train"].output and "Guardado en" in outputs["train"].output
    assert "exactitud" in outputs["runs"].output and "Precisión de" in outputs["evaluate --explain"].output


def test_every_shipped_config_says_what_it_is_in_spanish_too(cli: Cli) -> None:
    """`configs --lang es` described every config in English (issue 33): each has its `# es:` line."""
    shipped = sorted((ROOT / "configs").glob("*.yaml"))
    assert shipped and all("\n# es: " in p.read_text() for p in shipped)
    said = " ".join(cli("configs", "--lang", "es").stdout.split())
    assert "Descenso de gradiente estocástico con momento" in said and "Plain stochastic" not in said
    assert "Plain stochastic gradient descent" in " ".join(cli("configs").stdout.split())
