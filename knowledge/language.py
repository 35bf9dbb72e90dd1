"""Language of documents and queries, offline: py3langid (langid.py's model, bundled in the wheel, numpy only).

Detection is restricted to a candidate set: on a short query an unrestricted 97-language model often names a
language nobody wrote in ("reembolso" → Luxembourgish), while choosing among the languages a help center is
likely to be written in is reliable for a sentence. A query whose best guess is not clear enough gets no
language (None), so an ordinary English question never triggers a language fallback by accident.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

#: Languages considered when nothing narrower is known (ISO 639-1; all handled by multilingual-e5).
DEFAULT_LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "nl", "pl", "sv", "da", "no", "fi", "tr", "ru", "ja", "zh")
#: Names of those languages for a reply: (English name, the language's own name). The own name is how a reply
#: written in that language names it ("en español"), which is how the agent sees a model already said so.
LANGUAGE_NAMES: dict[str, tuple[str, str]] = {
    "en": ("English", "English"),
    "es": ("Spanish", "español"),
    "fr": ("French", "français"),
    "de": ("German", "Deutsch"),
    "pt": ("Portuguese", "português"),
    "it": ("Italian", "italiano"),
    "nl": ("Dutch", "Nederlands"),
    "pl": ("Polish", "polski"),
    "sv": ("Swedish", "svenska"),
    "da": ("Danish", "dansk"),
    "no": ("Norwegian", "norsk"),
    "fi": ("Finnish", "suomi"),
    "tr": ("Turkish", "Türkçe"),
    "ru": ("Russian", "русский"),
    "ja": ("Japanese", "日本語"),
    "zh": ("Chinese", "中文"),
}
#: Least normalized probability at which a query's language counts as known.
MIN_QUERY_PROBABILITY = 0.8
#: Text shorter than this (characters) is too short to say the language of a document.
MIN_DOCUMENT_CHARS = 40

_IDENTIFIERS: dict[tuple[str, ...], Any] = {}
_LOCK = threading.Lock()


def _identifier(languages: tuple[str, ...]) -> Any:
    ident = _IDENTIFIERS.get(languages)
    if ident is None:
        with _LOCK:
            ident = _IDENTIFIERS.get(languages)
            if ident is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                ident.set_languages(list(languages))
                _IDENTIFIERS[languages] = ident
    return ident


def _candidates(languages: Iterable[str] | None) -> tuple[str, ...]:
    wanted = sorted({*(languages or ()), *DEFAULT_LANGUAGES})
    return tuple(lang for lang in wanted if len(lang) == 2)


def detect(text: str, *, languages: Iterable[str] | None = None) -> tuple[str, float]:
    """(language code, probability) of `text` among `languages` plus the default candidates."""
    code, prob = _identifier(_candidates(languages)).classify(text)
    return str(code), float(prob)


def document_language(text: str, *, default: str = "en") -> str:
    """The language a document is written in (`default` when it is too short to tell)."""
    if len(text.strip()) < MIN_DOCUMENT_CHARS:
        return default
    # The first few thousand characters say it; the whole of a long manual costs time for nothing.
    return detect(text[:4000])[0]


def query_language(text: str, *, languages: Iterable[str] | None = None) -> str | None:
    """The language of a query, or None when the guess is not clear (short codes, mixed words)."""
    if sum(c.isalpha() for c in text) < 8:
        return None
    code, prob = detect(text, languages=languages)
    return code if prob >= MIN_QUERY_PROBABILITY else None


def language_name(code: str | None) -> str | None:
    """The English name of a language code ("es" → "Spanish"), None when unknown."""
    names = LANGUAGE_NAMES.get((code or "").lower())
    return names[0] if names else None
