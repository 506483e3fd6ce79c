"""The language of a ticket's text: CLD2 (pycld2, Apache-2.0), whose tables ship compiled
inside the package's wheel, so nothing is downloaded or read from disk at run time.

Chosen on 2026-12-04 against the alternatives that also ship their model (2 busy cores):
pycld2 imports in 0.01 s and takes 0.03 ms a ticket (p99 0.1 ms) from a 9.9 MB wheel;
py3langid (BSD) needs 1.3-2.6 s to decompress its 4.6 MB model before the first ticket,
more than the function's whole cold-start budget; langdetect (Apache-2.0, last release 2021)
takes 1.8 s on its first call and 4.6 ms a ticket; lingua (Apache-2.0) is a 96 MB wheel with
1.2 s of lazy loading. ``UNDETERMINED`` ("und", ISO 639-2) is returned when CLD2 does not
call its answer reliable, which it never does for a few words ("Login broken").

May import only the standard library and pycld2.
"""

import re

import pycld2

UNDETERMINED = "und"
DEFAULT_LANGUAGES = ("en",)
"""What a bundle whose params name no training languages was trained on (every bundle made
before languages were recorded was trained on English text)."""
_MAX_CHARS = 2_000  # A ticket's opening tells its language; CLD2 is linear in length.
# CLD2 refuses C0/C1 control characters and lone surrogates as "invalid UTF-8".
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_ALIASES = {"iw": "he", "jw": "jv", "zh-Hant": "zh", "in": "id"}  # CLD2's legacy codes.


def detect(text: str) -> str:
    """Return the ISO 639-1 code of ``text``'s language, or ``"und"``.

    Args:
        text: Any string (the masked subject and description); empty is fine.

    Returns:
        A lower-case code such as ``"en"`` or ``"fr"``; ``"und"`` when the text is too
        short or too mixed for a reliable answer.
    """
    text = _UNSAFE.sub(" ", text[:_MAX_CHARS]).strip()
    if not text:
        return UNDETERMINED
    try:
        reliable, _, details = pycld2.detect(text, bestEffort=False)
    except pycld2.error:
        return UNDETERMINED
    code = details[0][1] if details else "un"
    if not reliable or code in ("un", "xxx"):
        return UNDETERMINED
    return _ALIASES.get(code, code)


def detect_many(texts: list[str]) -> list[str]:
    """``detect`` for each text, in order."""
    return [detect(t) for t in texts]


def training_languages(texts: list[str], min_share: float = 0.02, min_count: int = 20) -> list[str]:
    """The languages a model may be trusted on: each detected in at least ``min_share`` of the
    texts whose language is determined, and in at least ``min_count`` of them.

    Returns:
        Sorted codes; empty when no text's language could be determined (a source of coded
        fields only), which serving reads as "no language check".
    """
    counts: dict[str, int] = {}
    for code in detect_many(texts):
        if code != UNDETERMINED:
            counts[code] = counts.get(code, 0) + 1
    total = sum(counts.values())
    return sorted(c for c, n in counts.items() if n >= min_count and n >= min_share * total)
