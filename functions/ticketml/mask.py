"""Replace personal data and secrets in free text with placeholders.

The same masking runs before training (text is stored, trained on and logged masked) and
at prediction time, so the model never sees, and never learns from, a customer's e-mail
address, phone number, card or bank account number, Social Security number or credentials. A
text is masked again until nothing changes (what one pass masks can uncover more), so masking
is idempotent: ``mask_pii(mask_pii(t)) == mask_pii(t)``.
"""

import functools
import re

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
CARD = "[CARD]"
IBAN = "[IBAN]"
SSN = "[SSN]"
SECRET = "[SECRET]"
PLACEHOLDERS = (EMAIL, PHONE, CARD, IBAN, SSN, SECRET)
"""Every placeholder masking writes."""

# Every repetition is bounded so that no input makes a pattern scan quadratically. A pattern that must not follow
# some character consumes its first character before looking back (``\d(?<![\w.-]\d)`` where it would read
# ``(?<![\w.-])\d``): the same matches, but the engine then skips in C to where that first character occurs
# instead of trying the look-behind at every position (a card or phone scan of 5,000 characters: 0.15 -> 0.01-0.08 ms).

# Words that mark a URL query parameter (or a bare ``name=value``) as a credential. A
# parameter name is split into words on ``_ . -`` and camelCase, so ``X-Amz-Signature``,
# ``access_token`` and ``apiKey`` match while ``design`` or ``keyword`` do not.
_SECRET_WORDS = frozenset({
    "token", "key", "apikey", "password", "passwd", "pass", "pwd", "secret", "signature",
    "sig", "auth", "credential", "credentials", "session", "sessionid", "sid", "jwt", "otp",
})
_DIGIT = re.compile(r"\d")  # card and phone patterns all need one (\d as they read it: any Unicode digit)
_CARD_DIGITS = (13, 19)
_PHONE_DIGITS = (7, 15)  # E.164 allows at most 15 digits.

_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,31}://)([^\s/:@]{1,256}):([^\s/@]{1,256})@")
# A URL's scheme as _URL_USERINFO reads it, up to the "://" it is searched before (as endpos): where a scheme may
# start.
_SCHEME_RUN = re.compile(r"(?i)[a-z0-9+.-]{1,32}\Z")
# A parameter is a name (``(?:(?<=[?&;])|(?<![^\s,(\"'<]))[A-Za-z][\w.-]{0,63}``, read back from its "=", see
# ``_name_before``), "=" and a value. The value of a credential is masked whole; another parameter's value is searched
# on, as it may hold parameters of its own (``next=/reset?token=...``, ``a=1;api_key=...``).
_PARAM_VALUE = re.compile(r"[^\s&#\"'<>]+")
_NAME_MAX = 64
_BEARER = re.compile(r"(?i)(b(?<!\wb)(?:earer|asic))\s+[A-Za-z0-9._~+/-]{12,}=*")
_EMAIL = re.compile(
    r"(?i)(?<![\w.%+-])[a-z0-9._%+-]{1,64}@[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){0,8}\.[a-z]{2,24}\b"
)
# An address's local part has at most 64 characters; searched up to its "@" (as endpos), _LOCAL_RUN finds the run of
# local-part characters before it, up to one more.
_LOCAL_MAX = 64
_LOCAL_RUN = re.compile(r"(?i)[a-z0-9._%+-]{1,65}\Z")
_CARD = re.compile(r"\d(?<![\w.,/-]\d)(?:[ -]?\d){12,18}(?![\w.,/-]?\d)")
# An IBAN (ISO 13616): country code, two check digits and up to 30 letters and digits, compact or in groups of four
# (``DE89 3704 0044 0532 0130 00``), upper case as banks print it; kept only when the mod-97 check holds.
_IBAN = re.compile(r"[A-Z](?<!\w[A-Z])[A-Z][0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?!\w)")
_IBAN_LENGTH = (15, 34)
# Typed in lower or mixed case ("iban: de89 3704 0044 ..."), it is taken only after the word IBAN: runs of lower-case
# letters and digits are as often hashes and ids.
_IBAN_CUED = re.compile(
    r"((?i:i(?<!\wi)ban)\b[:#.]?\s*(?:(?i:is)\s*)?)"
    r"([A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,4})?)(?!\w)"
)
# A US Social Security number as it is written, 123-45-6789; kept when it cannot be one (area 000, 666 or 900-999,
# group 00, serial 0000).
_SSN = re.compile(r"\d(?<![\w.-]\d)\d\d-\d\d-\d{4}(?![\w-]|\.\d)")
# Written otherwise (123456789, 123 45 6789), nine digits are too common to be taken for one, unless named:
# "SSN: 123456789", "social security number 123 45 6789".
_SSN_CUED = re.compile(
    r"(?i)(s(?<!\ws)(?:sn|ocial[ -]security(?:[ -](?:number|num|no))?)s?\.?(?:\s*(?:is|:|#|=))?\s*)"
    r"(\d(?<![\w.-]\d)\d\d([ -]?)\d\d\3\d{4})(?![\w-]|\.\d)"
)
_SSN_CUE_WORDS = ("ssn", "social security", "social-security")
_PHONE_PATTERNS = (
    # International: +CC then groups, optionally with an (area) part.
    re.compile(r"\+(?<![\w+]\+)\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){2,5}(?![\w.-]?\d)"),
    # (555) 123-4567 / (030) 1234567
    re.compile(r"\((?<![\w)]\()\d{2,5}\)[ .-]?\d{3,4}[ .-]?\d{3,4}(?![\w.-]?\d)"),
    # 555-123-4567 / 555.123.4567 / 555 123 4567 (North American grouping only).
    re.compile(r"\d(?<![\w.-]\d)\d{2}([-. ])\d{3}\1\d{4}(?![\w.-]?\d)"),
    # National numbers with a trunk zero: 030 12345678, 0171-1234567, 020 7946 0018.
    re.compile(r"0(?<![\w.-]0)\d{1,4}[ /-]\d{3,8}(?:[ -]\d{2,4})?(?![\w.-]?\d)"),
)
# Every card and phone pattern (the cued one included) needs seven or more digits, each at most 24 of these
# separators from the next; most texts with digits (versions, order numbers, dates) have no such run.
_DIGIT_RUN = re.compile(r"\d(?:[ ().\/-]{0,24}\d){6}")
# The non-ASCII letters that (?i) matches to ASCII ones (İ ı to i, the Kelvin sign to k, ſ to s): mapped so
# that a lower-cased substring test finds every word a case-insensitive pattern could match.
_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u212a": "k", "\u017f": "s"})
_FOLD_CHARS = "".join(map(chr, _FOLD))
_BEARER_WORDS = ("bearer", "basic")
_CUE_WORDS = ("phone", "tel", "mobile", "cell", "fax", "whatsapp", "call", "reach", "text")
# Any digit run after an explicit cue ("call me at 5551234567", "tel: 12 34 56 78").
# (The cues' first letters come first, so that the scan skips to them: ``p(?<!\wp)hone`` is ``\bphone``.)
_PHONE_CUED = re.compile(
    r"(?i)([cfmprtw](?<!\w[cfmprtw])(?:(?<=p)hone|(?<=t)el(?:ephone)?|(?<=m)obile|(?<=c)ell|(?<=f)ax|(?<=w)hatsapp"
    r"|(?:(?<=c)all|(?<=r)each|(?<=t)ext) me (?:at|on))[:.]?\s*)(\+?\d[\d ().-]{5,24}\d)(?![\w.-]?\d)"
)


# The function masks each ticket's subject and description twice, for the model's input and for the helpdesk's
# copy: the second time is a lookup. A few hundred texts are kept, the last ones masked.
@functools.lru_cache(maxsize=256)
def mask_pii(text: str) -> str:
    """Replace e-mails, phone numbers, card numbers and URL secrets with placeholders.

    Args:
        text: Free text, e.g. a ticket's subject or description.

    Returns:
        The text with each e-mail address replaced by ``[EMAIL]``, each phone number by
        ``[PHONE]``, each Luhn-valid payment card number by ``[CARD]``, each IBAN that passes
        its mod-97 check by ``[IBAN]`` (upper case, or any case after the word "IBAN"), each US
        Social Security number by ``[SSN]`` (written 123-45-6789, or otherwise after "SSN" or
        "social security number"), and each password
        in a URL's userinfo, credential-like ``name=value`` parameter (``token=``,
        ``api_key=``, ``password=``, ``X-Amz-Signature=`` ...) or bearer token by
        ``[SECRET]``. Version numbers, dates, IP addresses and ticket numbers are kept.
    """
    if not text:
        return text
    for _ in range(MAX_PASSES):
        masked = _masked_once(text)
        if masked == text:
            return masked
        text = masked
    return text


# What one pass masks can uncover more: in ``4567Bearer abc...`` the token hides behind a digit until the phone
# number before it is ``[PHONE]``; in ``tel: 12 34 56 78 4111111111111111`` the card's digits are taken by a
# longer candidate that fails the Luhn check until the phone number is masked. So a text that a pass changed is
# masked again, until nothing changes, at most this many times (each pass is linear in the text; a text without
# personal data takes one pass, one with some usually two).
MAX_PASSES = 8


def _masked_once(text: str) -> str:
    # Each pattern needs a character it cannot match without; most tickets lack them, and a substring test
    # costs far less than a regex scan (training masks every stored ticket).
    if "://" in text and "@" in text:
        text = _mask_url_userinfo(text)
    if "=" in text:
        text = _mask_params(text)
    folded = _folded(text)
    if any(word in folded for word in _BEARER_WORDS):
        text = _BEARER.sub(lambda m: f"{m[1]} {SECRET}", text)
    if "@" in text:
        text = _mask_emails(text)
    if not _DIGIT.search(text):
        return text
    if not text.islower():
        text = _IBAN.sub(_mask_iban, text)
    if "iban" in folded:
        text = _IBAN_CUED.sub(lambda m: m[1] + _mask_iban(m, group=2), text)
    if _DIGIT_RUN.search(text):
        if "-" in text:
            text = _SSN.sub(_mask_ssn, text)
        if any(word in folded for word in _SSN_CUE_WORDS):
            text = _SSN_CUED.sub(lambda m: m[1] + _mask_ssn(m, group=2), text)
        text = _CARD.sub(_mask_card, text)
        for pattern in _PHONE_PATTERNS:
            text = pattern.sub(_mask_phone, text)
        if any(word in folded for word in _CUE_WORDS):
            text = _mask_cued_phones(text)
    return text


def _mask_url_userinfo(text: str) -> str:
    """``_URL_USERINFO.sub``, tried only in the scheme before each "://" instead of at every word.

    A match's scheme, at most 32 letters, digits, "+", "." or "-", ends at a "://"; so every match starts in the run
    of those characters before one. Tried there in order, skipping those inside the last match, these are the
    matches a scan finds (property-tested against it).
    """
    starts = set()
    at = text.find("://")
    while at != -1:
        run = _SCHEME_RUN.search(text, max(0, at - 32), at)
        if run is not None:
            starts.update(range(run.start(), at))
        at = text.find("://", at + 3)
    return _sub_at(_URL_USERINFO, starts, lambda m: f"{m[1]}{m[2]}:{SECRET}@", text)


def _folded(text: str) -> str:
    """``text`` lower-cased with the letters of ``_FOLD`` mapped first: each of its characters is one of the text's,
    at the same index (``str.lower`` lengthens only İ, which ``_FOLD`` maps)."""
    if not text.isascii() and any(ch in text for ch in _FOLD_CHARS):
        text = text.translate(_FOLD)
    return text.lower()


def _mask_cued_phones(text: str) -> str:
    """``_PHONE_CUED.sub``, tried only where a cue word starts instead of at every c, f, m, p, r, t and w.

    A match begins with its cue word, and (?i) matches a letter as ``_folded`` maps it, so every match starts where
    the folded text has a cue word; tried there in order, skipping those inside the last match, these are the
    matches a scan finds (property-tested against it).
    """
    folded = _folded(text)
    starts = set()
    for word in _CUE_WORDS:
        at = folded.find(word)
        while at != -1:
            starts.add(at)
            at = folded.find(word, at + 1)
    return _sub_at(_PHONE_CUED, starts, lambda m: m[1] + _mask_phone(m, group=2), text)


def _sub_at(pattern: re.Pattern, starts: set[int], replace, text: str) -> str:
    """``pattern.sub(replace, text)`` when every match starts at one of ``starts``: the pattern is tried at each, in
    order, those inside the last match skipped, as the scan of ``sub`` would meet them."""
    pieces, done = [], 0
    for start in sorted(starts):
        if start < done:
            continue
        match = pattern.match(text, start)
        if match is not None:
            pieces += (text[done:start], replace(match))
            done = match.end()
    return "".join(pieces) + text[done:] if pieces else text


def luhn_valid(digits: str) -> bool:
    """Return True if a string of digits passes the Luhn check used by payment cards."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _mask_params(text: str) -> str:
    """Each credential-like ``name=value`` with its value replaced by ``[SECRET]``, each name read back from its "="
    (a regex scan for names tries every word of a text; its "="s are few)."""
    pieces, done = [], 0
    equals = text.find("=")
    while equals != -1:
        name = _name_before(text, equals, done)
        if name is not None and _name_words(name) & _SECRET_WORDS:
            value = _PARAM_VALUE.match(text, equals + 1)
            if value is not None and value[0] != SECRET:
                pieces += (text[done:equals + 1], SECRET)
                done = value.end()
                equals = text.find("=", done)
                continue
        equals = text.find("=", equals + 1)  # not a credential: its value is searched on
    return "".join(pieces) + text[done:] if pieces else text


def _mask_emails(text: str) -> str:
    """What ``_EMAIL.sub(EMAIL, text)`` gives, the addresses found from their "@"s: an address holds one, and its
    local part is the whole run of local-part characters before it (the look-behind refuses a start inside the
    run). A scan of a text for addresses tries every word; its "@"s are few."""
    pieces, done = [], 0
    at = text.find("@")
    while at != -1:
        local = _LOCAL_RUN.search(text, max(done, at - _LOCAL_MAX - 1), at)
        if local is not None and at - local.start() <= _LOCAL_MAX:
            start = local.start()
            if not (start > 0 and _is_email_char(text[start - 1])):
                address = _EMAIL.match(text, start)
                if address is not None:
                    pieces += (text[done:start], EMAIL)
                    done = address.end()
                    at = text.find("@", done)
                    continue
        at = text.find("@", at + 1)
    return "".join(pieces) + text[done:] if pieces else text


def _is_email_char(ch: str) -> bool:
    r"""``[\w.%+-]``, what may not come before an address."""
    return ch.isalnum() or ch in "_.%+-"


def _name_before(text: str, equals: int, start: int) -> str | None:
    r"""The parameter name that ends at ``text[equals]`` (an "="), as the pattern above matches it, or None: the whole
    run of ``[\w.-]`` before it (a match cannot begin inside the run, whose characters the look-behind refuses), at
    most 64 characters, beginning with an ASCII letter, at or after ``start``, after nothing or one of ``?&;,("'<``
    or white space."""
    begin = equals
    while begin > 0 and equals - begin < _NAME_MAX and _is_word_char(text[begin - 1]):
        begin -= 1
    if begin == equals or begin < start or not ("a" <= text[begin] <= "z" or "A" <= text[begin] <= "Z"):
        return None
    if begin > 0:
        before = text[begin - 1]
        if _is_word_char(before) or not (before in "?&;,(\"'<" or before.isspace()):
            return None
    return text[begin:equals]


def _is_word_char(ch: str) -> bool:
    r"""``[\w.-]`` as the patterns read it (``\w``: what str.isalnum() accepts, and "_")."""
    return ch.isalnum() or ch in "_.-"


def _name_words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return {w for w in re.split(r"[\s_.-]+", spaced.lower()) if w}


def iban_valid(iban: str) -> bool:
    """Return True if a compact IBAN (letters upper case) has a valid length and passes the mod-97 check."""
    low, high = _IBAN_LENGTH
    if not low <= len(iban) <= high:
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _mask_iban(match: re.Match, group: int = 0) -> str:
    # The pattern may take a word of four capitals or digits after the IBAN's last group ("... 7034 DONE"): the
    # longest run of whole groups that passes the check is the IBAN.
    found = match[group]
    ends = [len(found)] + [i for i in range(len(found) - 1, 0, -1) if found[i] == " "]
    for end in ends:
        if iban_valid(found[:end].replace(" ", "").upper()):
            return IBAN + found[end:]
    return found


def _mask_ssn(match: re.Match, group: int = 0) -> str:
    found = match[group]
    digits = found.replace("-", "").replace(" ", "")
    area, group_, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group_ == "00" or serial == "0000":
        return found
    return SSN


def _mask_card(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match[0])
    low, high = _CARD_DIGITS
    if low <= len(digits) <= high and luhn_valid(digits):
        return CARD
    return match[0]


def _mask_phone(match: re.Match, group: int = 0) -> str:
    digits = sum(ch.isdigit() for ch in match[group])
    low, high = _PHONE_DIGITS
    return PHONE if low <= digits <= high else match[group]
