"""The language fashionlab writes its results in: English, or Spanish (the lab's own language).

Messages are marked `_("...")` (with named `{placeholders}`, filled by `.format` after translation) and
translated through gettext catalogs in fashionlab/locale (Babel extracts and compiles them: `make
catalog`, docs/looking.md). `--lang es`, $FASHIONLAB_LANG or a Spanish $LC_ALL/$LC_MESSAGES/$LANG (es_ES.UTF-8)
chooses Spanish; anything else is English, the default. --help stays English.
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "fashionlab"
LANGUAGES = ("en", "es")

_translation: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def from_environment() -> str:
    """The language the environment asks for: $FASHIONLAB_LANG, else the locale variables, else English."""
    chosen = os.environ.get("FASHIONLAB_LANG")
    if chosen:
        return chosen
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name)
        if value:
            return "es" if value.lower().startswith("es") else "en"
    return "en"


def set_language(language: str | None = None) -> str:
    """Write in `language` (en or es; None: what the environment asks for) from now on; returns it."""
    global _translation, _language
    language = (language or from_environment()).split("_")[0].lower()
    if language == "es":
        _translation = gettext.translation(DOMAIN, LOCALE_DIR, languages=["es"])
    else:
        language, _translation = "en", gettext.NullTranslations()
    _language = language
    return language


def language() -> str:
    return _language


def _(message: str) -> str:
    """`message` in the chosen language (itself where no translation exists)."""
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translation.ngettext(singular, plural, n)


# Fashion-MNIST's class names in Spanish (Zalando's own names are English; configs, JSON and CSV keep them).
CLASS_WORDS = {
    "es": {"T-shirt/top": "Camiseta/top", "Trouser": "Pantalón", "Pullover": "Jersey", "Dress": "Vestido",
           "Coat": "Abrigo", "Sandal": "Sandalia", "Shirt": "Camisa", "Sneaker": "Zapatilla", "Bag": "Bolso",
           "Ankle boot": "Botín"},
}  # fmt: skip


def class_word(name: str, original: bool = True) -> str:
    """A class name for the reader: in Spanish 'Camisa (Shirt)', the dataset's own name beside it where there
    is room (`original`), else 'Camisa'; in English the name as it is."""
    said = CLASS_WORDS.get(_language, {}).get(name)
    if said is None:
        return name
    return f"{said} ({name})" if original else said


def grouped(n: int | float) -> str:
    """A count with its thousands grouped: 54,000 in English; in Spanish 54 000 with a no-break space, as the
    RAE recommends (a comma there reads as a decimal mark, 6,000 as six). Decimals keep Keras's point in
    both (0.8863; the RAE accepts it), so a number reads the same in the tables, the JSON and Keras's logs."""
    text = f"{n:,}"
    return text.replace(",", "\u00a0") if _language == "es" else text
