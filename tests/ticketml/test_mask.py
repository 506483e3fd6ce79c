"""Masking removes each kind of personal data and leaves ordinary ticket text alone."""

import re
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ticketml.mask import CARD, EMAIL, IBAN, PHONE, SECRET, SSN, iban_valid, luhn_valid, mask_pii


@pytest.mark.parametrize("email", [
    "anna.schmidt@example.com", "j.doe+tickets@mail.example.co.uk", "ADMIN@Contoso.ORG",
    "first_last-99@sub.domain.io",
])
def test_masks_email_addresses(email):
    assert mask_pii(f"Please reply to {email}, thanks.") == f"Please reply to {EMAIL}, thanks."


@pytest.mark.parametrize("phone", [
    "+1 (555) 123-4567", "+44 20 7946 0958", "+49 30 901820", "+4930901820",
    "555-123-4567", "555.123.4567", "(030) 1234567", "030 12345678", "0171-1234567",
])
def test_masks_phone_numbers(phone):
    assert mask_pii(f"Call {phone} today") == f"Call {PHONE} today"


@pytest.mark.parametrize("text", ["call me at 5551234567", "tel: 12 34 56 78", "Mobile: 0612345678"])
def test_masks_phone_numbers_after_a_cue(text):
    masked = mask_pii(text)
    assert PHONE in masked
    assert not any(ch.isdigit() for ch in masked)


@pytest.mark.parametrize("card", [
    "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "5500 0055 5555 5559",
    "378282246310005",
])
def test_masks_luhn_valid_card_numbers(card):
    assert mask_pii(f"charged on card {card}.") == f"charged on card {CARD}."


def test_keeps_card_like_numbers_that_fail_luhn():
    assert mask_pii("order 4111 1111 1111 1112 shipped") == "order 4111 1111 1111 1112 shipped"


@pytest.mark.parametrize("text, expected", [
    ("https://admin:hunter2@db.example.com/x", f"https://admin:{SECRET}@db.example.com/x"),
    ("https://x.io/a?access_token=abc123&page=2", f"https://x.io/a?access_token={SECRET}&page=2"),
    ("https://x.io/a?page=2&key=AIzaSyA", f"https://x.io/a?page=2&key={SECRET}"),
    ("https://x.io/a?password=letmein", f"https://x.io/a?password={SECRET}"),
    ("https://x.io/a?client_secret=s3cr3t#top", f"https://x.io/a?client_secret={SECRET}#top"),
    ("https://s3.aws.com/f?X-Amz-Signature=deadbeef&X-Amz-Date=2024",
     f"https://s3.aws.com/f?X-Amz-Signature={SECRET}&X-Amz-Date=2024"),
    ("https://x.io/a?apiKey=abc&sig=ff00", f"https://x.io/a?apiKey={SECRET}&sig={SECRET}"),
    ("set api_key=sk_live_123 in the config", f"set api_key={SECRET} in the config"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
     f"Authorization: Bearer {SECRET}"),
    # a credential inside another parameter's value
    ("https://app.example.com/login?next=/reset?token=abc123 please",
     f"https://app.example.com/login?next=/reset?token={SECRET} please"),
    ("url=https://a.example.com/?password=hunter2", f"url=https://a.example.com/?password={SECRET}"),
    ("/cb?redirect_uri=https://y.example.com/?code=1&access_token=abcd",
     f"/cb?redirect_uri=https://y.example.com/?code=1&access_token={SECRET}"),
    ("jdbc:x://db/app;user=ops;password=hunter2;ssl=true", f"jdbc:x://db/app;user=ops;password={SECRET}"),
    ("a?x=1;api_key=zzz", f"a?x=1;api_key={SECRET}"),
    ("filter=a,token=xyz", f"filter=a,token={SECRET}"),
])
def test_masks_secrets_in_urls(text, expected):
    assert mask_pii(text) == expected


@pytest.mark.parametrize("text", [
    "We upgraded to version 2.3.1 and then 10.4.12.",
    "Since 2024-05-01 at 10:30 the export fails.",
    "See ticket #12345678 and INC0012345.",
    "Server 192.168.1.10 on port 8080 returns HTTP 502.",
    "Invoice INV-2025-04417 over $1,249.00 is due 12/05/2025.",
    "About 1500 users, 3 of 4 nodes, error E1042, build 20240501.",
    "https://app.example.com/reports?page=2&sort=desc&design=blue",
    "order 1234567890123 and tracking 9876543210",
    "keyword=priority and monkey=banana",
])
def test_leaves_ordinary_text_unchanged(text):
    assert mask_pii(text) == text


def test_masks_every_kind_in_one_text_and_is_idempotent():
    text = ("Hi, I'm Anna (anna@example.com, +49 30 1234567). Card 4111 1111 1111 1111. "
            "URL https://u:pw@h.io/?token=t0k3n. Version 2.3.1.")
    masked = mask_pii(text)
    for secret in ("anna@example.com", "1234567", "4111", "pw@", "t0k3n"):
        assert secret not in masked
    assert "2.3.1" in masked and "Anna" in masked
    assert mask_pii(masked) == masked


def test_empty_text_is_returned_as_is():
    assert mask_pii("") == ""


@pytest.mark.parametrize("digits, valid", [
    ("4111111111111111", True), ("4111111111111112", False), ("79927398713", True), ("0", True),
])
def test_luhn_valid(digits, valid):
    assert luhn_valid(digits) is valid


@pytest.mark.parametrize("unit", ["a.", "a%", "1-", "1 ", "+1", "a@", "x=", "(1)", "0 ", "a.b@", "?a=1", ";key=",
                                  "?token=[SECRET]", "&pwd=[SECRET]"])
def test_adversarial_text_is_masked_in_linear_time(unit):
    start = time.perf_counter()
    mask_pii((unit * 10_000)[:10_000])
    assert time.perf_counter() - start < 0.1


# The patterns as first written, each look-behind before the character it guards; mask_pii's own consume that
# character first (so that the engine can skip to it), which must find the same matches.
_PLAIN_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/-]{12,}=*")
_PLAIN_SSN = re.compile(r"(?<![\w.-])\d{3}-\d{2}-\d{4}(?![\w-]|\.\d)")
_PLAIN_CARD = re.compile(r"(?<![\w.,/-])\d(?:[ -]?\d){12,18}(?![\w.,/-]?\d)")
_PLAIN_PHONES = (
    re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){2,5}(?![\w.-]?\d)"),
    re.compile(r"(?<![\w)])\(\d{2,5}\)[ .-]?\d{3,4}[ .-]?\d{3,4}(?![\w.-]?\d)"),
    re.compile(r"(?<![\w.-])\d{3}([-. ])\d{3}\1\d{4}(?![\w.-]?\d)"),
    re.compile(r"(?<![\w.-])0\d{1,4}[ /-]\d{3,8}(?:[ -]\d{2,4})?(?![\w.-]?\d)"),
)

_PLAIN_CUED = re.compile(
    r"(?i)\b((?:phone|tel|telephone|mobile|cell|fax|whatsapp|(?:call|reach|text) me (?:at|on))"
    r"[:.]?\s*)(\+?\d[\d ().-]{5,24}\d)(?![\w.-]?\d)"
)

# Parameters as a regex scan finds them; mask._mask_params reads each name back from its "=" instead.
_PLAIN_PARAM_NAME = re.compile(r"(?:(?<=[?&;])|(?<![^\s,(\"'<]))([A-Za-z][\w.-]{0,63})=")


def _plain_params(text):
    from ticketml import mask as m
    pieces, done, at = [], 0, 0
    while (name := _PLAIN_PARAM_NAME.search(text, at)) is not None:
        at = name.end()
        if not m._name_words(name[1]) & m._SECRET_WORDS:
            continue
        value = m._PARAM_VALUE.match(text, at)
        if value is None or value[0] == m.SECRET:
            continue
        pieces += (text[done:at], m.SECRET)
        done = at = value.end()
    return "".join(pieces) + text[done:] if pieces else text


def _unguarded(text):
    """Every pattern, as first written, applied in order, as mask_pii did before its substring guards."""
    from ticketml import mask as m
    if not text:
        return text
    text = m._URL_USERINFO.sub(lambda x: f"{x[1]}{x[2]}:{m.SECRET}@", text)
    text = _plain_params(text)
    text = _PLAIN_BEARER.sub(lambda x: f"{x[1]} {m.SECRET}", text)
    text = m._EMAIL.sub(m.EMAIL, text)  # (a scan, where mask_pii reads each address back from its @)
    text = m._IBAN.sub(m._mask_iban, text)
    text = m._IBAN_CUED.sub(lambda x: x[1] + m._mask_iban(x, group=2), text)
    text = _PLAIN_SSN.sub(m._mask_ssn, text)
    text = m._SSN_CUED.sub(lambda x: x[1] + m._mask_ssn(x, group=2), text)
    text = _PLAIN_CARD.sub(m._mask_card, text)
    for pattern in _PLAIN_PHONES:
        text = pattern.sub(m._mask_phone, text)
    return _PLAIN_CUED.sub(lambda x: x[1] + m._mask_phone(x, group=2), text)


# Text where the guarded patterns' first characters and their look-behinds meet: groups of digits, separators and
# the characters the look-behinds refuse, in any order, at the start of the text too.
_EDGE_PIECES = st.one_of(
    st.sampled_from(["+", "(", ")", "-", ".", "/", " ", ",", "_", "a", "B", "\u00e9", "\u0663", "0", "00",
                     "123-", "45-", "6789", "078-05-1120"]),
    st.text(alphabet="0123456789", min_size=1, max_size=8))


@settings(max_examples=3000, deadline=None)
@given(st.lists(_EDGE_PIECES, max_size=12).map("".join))
def test_the_rewritten_patterns_find_what_the_plain_ones_find(text):
    from ticketml import mask as m
    pairs = [(_PLAIN_CARD, m._CARD), (_PLAIN_SSN, m._SSN), *zip(_PLAIN_PHONES, m._PHONE_PATTERNS)]
    for plain, rewritten in pairs:
        assert [x.span() for x in plain.finditer(text)] == [x.span() for x in rewritten.finditer(text)]


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="bBasicerEARIC \t_x1=", max_size=40))
def test_the_rewritten_bearer_pattern_finds_what_the_plain_one_finds(text):
    from ticketml import mask as m
    assert ([(x.span(), x[1]) for x in _PLAIN_BEARER.finditer(text + "abcdefghijklm")]
            == [(x.span(), x[1]) for x in m._BEARER.finditer(text + "abcdefghijklm")])


_PIECES = ["call me at 555-123-4567", "ada@example.com", "https://u:p@h.example.com/x?token=abc", "Bearer abcdefghijklmn",
           "baſic QWxhZGRpbjpvcGVuIHNlc2FtZQ", "4111 1111 1111 1111", "+49 30 1234567", "version 1.2.3", "Kelvin=1",
           "hello world", "tel: 12 34 56 78", "١٢٣٤٥٦٧٨٩٠", "password=hunter2", "(030) 1234567", "=", "@", "://",
           "TEL. 5551234567", "whatſapp 1 2 3 4 5 6 7", "SSN: 123 45 6789", "ſocial ſecurity 078051120",
           "İBAN de89 3704 0044 0532 0130 00", "iban: gb82west12345698765432",
           "1 (2) 3.4/5-6 7", "reach me on 0301234567", "PHONE:",
           "BASIC QWxhZGRpbjpvcGVuIHNlc2FtZQ", "mobİle 12345678", "1", "12", "-", "(", "/", "x+1 555 1234567",
           "a(030) 1234567", "5551234567", "4111111111111111", "1.4111 1111 1111 1111", "0301234567", "_0171-1234567",
           "xbearer abcdefghijklmn", "é555-123-4567", "+", "0", ")",
           "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "BE68 5390 0754 7034", "DONE", "[IBAN]",
           "078-05-1120", "666-12-3456", "[SSN]"]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=12)), max_size=8))
def test_the_substring_guards_change_no_result(parts):
    from ticketml.mask import _masked_once
    text = " ".join(parts)
    assert _masked_once(text) == _unguarded(text)


_CUE_PIECES = st.one_of(
    st.sampled_from(["phone", "PHONE", "tel", "Tel.", "telephone", "mobile", "mob\u0130le", "cell", "fax", "whatsapp",
                     "whatſapp", "call me at", "Reach me on", "text me at", "call", "me", "at", "p", "t", "c", "x",
                     "\u00e9", "_", ":", ".", " ", "\n", "+", "(", ")", "-", "5551234567", "12 34 56 78"]),
    st.text(alphabet="0123456789 ", min_size=1, max_size=6))


@settings(max_examples=3000, deadline=None)
@given(st.lists(_CUE_PIECES, max_size=10).map("".join))
def test_the_rewritten_cue_pattern_finds_what_the_plain_one_finds(text):
    from ticketml import mask as m
    assert ([(x.span(), x[1], x[2]) for x in _PLAIN_CUED.finditer(text)]
            == [(x.span(), x[1], x[2]) for x in m._PHONE_CUED.finditer(text)])


@settings(max_examples=3000, deadline=None)
@given(st.lists(_CUE_PIECES | st.sampled_from(["\u212a", "\u0131", "ſ", "İ", "hotel", "cancelled", "CALL me at"]),
                max_size=12).map("".join))
def test_cued_phones_tried_where_cue_words_start_are_the_ones_a_scan_masks(text):
    from ticketml import mask as m
    assert m._mask_cued_phones(text) == m._PHONE_CUED.sub(lambda x: x[1] + m._mask_phone(x, group=2), text)


_URL_PIECES = st.one_of(
    st.sampled_from(["https", "ftp", "a+b.c-d", "x", "H", "\u212a", "ſ", "_", "é", "1", "://", ":", "/", "@", "u",
                     "p", "user:pw@", " ", ".", "-", "+", "s3://k:s@b", "abcdefghijklmnopqrstuvwxyz0123456"]),
    st.text(alphabet="ab:/@.+-_ ", min_size=1, max_size=6))


@settings(max_examples=3000, deadline=None)
@given(st.lists(_URL_PIECES, max_size=12).map("".join))
@example("see bcdefghijklmnopqrstuvwxyz0123456://user:pw@host")  # the longest scheme, 32 characters
@example("see abcdefghijklmnopqrstuvwxyz0123456://user:pw@host")  # one too long
@example("a-s3://k:s@b \u212a://u:p@")
def test_url_passwords_tried_before_each_scheme_separator_are_the_ones_a_scan_masks(text):
    from ticketml import mask as m
    assert m._mask_url_userinfo(text) == m._URL_USERINFO.sub(lambda x: f"{x[1]}{x[2]}:{m.SECRET}@", text)


@pytest.mark.parametrize("cue", ["phone", "Tel.", "telephone", "mobile", "cell:", "fax", "whatsapp", "call me at",
                                 "reach me on", "text me at", "PHONE", "whatſapp", "mob\u0130le"])
def test_each_cue_word_is_where_a_cued_phone_is_tried(cue):
    from ticketml import mask as m
    text = f"hotel cancelled; {cue} 12 34 56 78, thanks"
    assert m._mask_cued_phones(text) == f"hotel cancelled; {cue} {PHONE}, thanks"


def test_a_text_masked_again_is_looked_up_not_scanned_again():
    text = "Call me at 555-123-4567 or write to ada@example.com, token=abc123"
    before = mask_pii.cache_info().hits
    first = mask_pii(text)
    assert mask_pii(text) is first
    assert mask_pii.cache_info().hits == before + 1
    assert first == f"Call me at {PHONE} or write to {EMAIL}, token={SECRET}"


_PARAM_PIECES = ["?", "&", ";", ",", "(", " ", "=", "token=abc", "next=/reset?token=x1", "url=https://h.example.com/",
                 "a=1", "api_key=zzz", "password=", "[SECRET]", "key", "X-Amz-Signature=ff", "page=2", "#", "'"]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PIECES + _PARAM_PIECES), st.text(max_size=6)), max_size=10).map("".join))
def test_masking_twice_changes_nothing_more(text):
    once = mask_pii(text)
    assert mask_pii(once) == once


def test_a_secret_that_a_placeholder_uncovers_is_masked_too():
    # "7Bearer": no word boundary before the token's keyword until the phone number is a placeholder
    assert mask_pii("call me at 555-123-4567Bearer abcdefghijklmn") == f"call me at {PHONE}Bearer {SECRET}"
    # the card's digits first taken by a longer candidate ("78 4111...") that fails the Luhn check
    assert mask_pii("tel: 12 34 56 78 4111111111111111") == f"tel: {PHONE} {CARD}"


_NAME_WORDS = st.sampled_from(["token", "api", "key", "Key", "page", "x", "k" * 20, "k" * 58, "k" * 59, "\u00e9", "1",
                               "_", ""])
_NAMES = st.lists(_NAME_WORDS, min_size=1, max_size=6).flatmap(
    lambda words: st.sampled_from(["_", ".", "-", ""]).map(lambda sep: sep.join(words)))
_NAME_PIECES = st.one_of(
    st.tuples(st.sampled_from(["", " ", "?", "&", ";", ",", "(", "\"", "'", "<", "\u00a0", "=", ".", "a", "#", ">"]),
              _NAMES, st.sampled_from(["=", "=="]), st.sampled_from(["", "abc", "[SECRET]", "a?b", "x;y", "1&2"])
              ).map("".join),
    st.sampled_from(["=", " ", "&", "[SECRET]"]),
    st.text(max_size=3))


@settings(max_examples=3000, deadline=None)
@given(st.lists(_NAME_PIECES, max_size=8).map("".join))
def test_names_read_back_from_their_equals_sign_are_the_ones_a_scan_finds(text):
    from ticketml import mask as m
    assert m._mask_params(text) == _plain_params(text)


_LOCAL_WORDS = st.sampled_from(["ada", "j.doe+tickets", "x", "K", "\u212a", "\u017f", "\u0130", "\u00e9", "1", "_", "%",
                                "k" * 30, "k" * 32, "k" * 64])
_ADDRESS_PIECES = st.one_of(
    st.tuples(st.sampled_from(["", " ", ".", "-", "a", "\u00e9", "<", "(", "@"]),
              st.lists(_LOCAL_WORDS, min_size=1, max_size=3).map("".join), st.sampled_from(["@", "@@"]),
              st.sampled_from(["example.com", "mail.example.co.uk", "x.c", "EXAMPLE.ORG", "a-b.io", "b.com.x", "h"]),
              st.sampled_from(["", " ", ".", "x", "@", "1", "\u00e9"])).map("".join),
    st.sampled_from([" ", "@", ".", "[EMAIL]"]),
    st.text(max_size=3))


@settings(max_examples=3000, deadline=None)
@given(st.lists(_ADDRESS_PIECES, max_size=8).map("".join))
def test_addresses_read_back_from_their_at_sign_are_the_ones_a_scan_finds(text):
    from ticketml import mask as m
    assert m._mask_emails(text) == m._EMAIL.sub(m.EMAIL, text)



@pytest.mark.parametrize("text, expected", [
    ("Please refund to IBAN DE89 3704 0044 0532 0130 00, thanks", f"Please refund to IBAN {IBAN}, thanks"),
    ("IBAN: GB82WEST12345698765432", f"IBAN: {IBAN}"),
    ("NL91 ABNA 0417 1643 00", IBAN),
    ("account FR76 3000 6000 0112 3456 7890 189.", f"account {IBAN}."),
    # a word of four capitals after the last group is not taken with it
    ("BE68 5390 0754 7034 DONE", f"{IBAN} DONE"),
    # typed in lower or mixed case: after the word IBAN only
    ("my iban is de89 3704 0044 0532 0130 00, thanks", f"my iban is {IBAN}, thanks"),
    ("Iban# Gb82West12345698765432.", f"Iban# {IBAN}."),
    ("iban: nl91abna0417164300 done", f"iban: {IBAN} done"),
    ("commit de89370400440532013000", "commit de89370400440532013000"),
    ("iban de89370400440532013001, libaN de89370400440532013000",  # the check fails; not the word IBAN
     "iban de89370400440532013001, libaN de89370400440532013000"),
])
def test_masks_ibans(text, expected):
    assert mask_pii(text) == expected


@pytest.mark.parametrize("text", [
    "ORDER AB12 3456 7890 1234 and HTTP 502",  # fails the mod-97 check
    "see RFC2616 and ISO 9001, build X86 64",
])
def test_keeps_codes_that_are_not_ibans(text):
    assert mask_pii(text) == text


@pytest.mark.parametrize("iban, valid", [
    ("DE89370400440532013000", True), ("GB82WEST12345698765432", True), ("NL91ABNA0417164300", True),
    ("DE89370400440532013001", False), ("DE8937040044", False), ("GB82WEST1234569876543212345678901234", False),
])
def test_iban_valid(iban, valid):
    assert iban_valid(iban) is valid



@pytest.mark.parametrize("text, expected", [
    ("SSN 123-45-6789", f"SSN {SSN}"),
    ("my ssn is 078-05-1120.", f"my ssn is {SSN}."),
    ("ids 123-45-6789, 234-56-7890", f"ids {SSN}, {SSN}"),
    # numbers no Social Security number can be, and longer codes
    ("000-12-3456 and 666-12-3456 and 912-34-5678 and 123-00-4567 and 123-45-0000",
     "000-12-3456 and 666-12-3456 and 912-34-5678 and 123-00-4567 and 123-45-0000"),
    ("part 123-45-6789-1, v1.123-45-6789, x123-45-6789", "part 123-45-6789-1, v1.123-45-6789, x123-45-6789"),
    # written without dashes: only after a cue, since nine digits alone are as often an order number
    ("SSN: 123456789", f"SSN: {SSN}"),
    ("my social security number is 123 45 6789.", f"my social security number is {SSN}."),
    ("Social-Security No. 078051120, thanks", f"Social-Security No. {SSN}, thanks"),
    ("ssn#123456789 and order 123456789", f"ssn#{SSN} and order 123456789"),
    ("SSNs 123456789", f"SSNs {SSN}"),
    ("order 123456789 shipped", "order 123456789 shipped"),
    ("ssn 912345678, ssn 123004567, ssn 1234567890, ssn 123 456789, ssn 12345678.9, lassn 123456789",
     "ssn 912345678, ssn 123004567, ssn 1234567890, ssn 123 456789, ssn 12345678.9, lassn 123456789"),
])
def test_masks_social_security_numbers(text, expected):
    assert mask_pii(text) == expected
