"""The masker that hides the secret values a step read."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipelines.sdk.masking import MASK, MIN_MASKED_LENGTH, SecretMasker
from pipelines.sdk.metadata import Uri, encode


def test_an_empty_masker_changes_nothing():
    masker = SecretMasker()

    assert not masker
    assert masker.mask("hunter22") == "hunter22"
    assert masker.mask_value({"a": ["hunter22"]}) == {"a": ["hunter22"]}


def test_every_occurrence_of_every_value_is_masked():
    masker = SecretMasker()
    masker.add_values(["hunter22", "s3cr3t-key"])

    assert masker.mask("user hunter22 with s3cr3t-key, again hunter22") == f"user {MASK} with {MASK}, again {MASK}"


def test_a_value_containing_another_is_masked_whole():
    masker = SecretMasker()
    masker.add_values(["abcd", "abcdefgh"])

    assert masker.mask("xabcdefghx abcd") == f"x{MASK}x {MASK}"


def test_values_shorter_than_the_minimum_are_not_masked():
    masker = SecretMasker()
    masker.add_values(["", "1", "ab", "x" * (MIN_MASKED_LENGTH - 1), None])

    assert not masker
    assert masker.mask("1 ab xxx") == "1 ab xxx"


def test_regex_characters_in_values_are_taken_literally():
    masker = SecretMasker()
    masker.add("a.b*c+(d)")

    assert masker.mask("a.b*c+(d) aXbbc(d)") == f"{MASK} aXbbc(d)"


def test_a_value_is_also_masked_as_json_and_repr_escape_it():
    masker = SecretMasker()
    value = 'line1\nli"ne2\\'
    masker.add(value)

    assert value not in masker.mask(value)
    assert json.dumps(value)[1:-1] not in masker.mask(json.dumps({"k": value}))
    assert repr(value)[1:-1] not in masker.mask(repr({"k": value}))


def test_non_string_values_are_masked_as_text():
    masker = SecretMasker()
    masker.add(123456)

    assert masker.mask("pin 123456") == f"pin {MASK}"


def test_nested_values_and_keys_are_masked_and_types_kept():
    masker = SecretMasker()
    masker.add("hunter22")

    masked = masker.mask_value({"hunter22": ["x-hunter22", ("hunter22", 5)], "u": Uri("http://hunter22/")})

    assert masked == {MASK: [f"x-{MASK}", (MASK, 5)], "u": f"http://{MASK}/"}
    assert type(masked["u"]) is Uri


def test_metadata_entries_keep_their_type_and_lose_the_values():
    masker = SecretMasker()
    masker.add("hunter22")
    entries = encode({"token": "hunter22", "hunter22": {"deep": ["hunter22"]}, "n": 3})

    masked = masker.mask_metadata(entries)

    assert masked == [
        {"key": "token", "value": MASK, "type": "str"},
        {"key": MASK, "value": {"deep": [MASK]}, "type": "dict"},
        {"key": "n", "value": 3, "type": "int"},
    ]
    assert "hunter22" not in json.dumps(masked)


# --- every encoding a step can plausibly print ------------------------------------------
# How a step may print a value it read: as is, through JSON (both ways of handling
# non-ASCII letters), inside a printed container (repr, ascii), or as UTF-8 bytes.
ENCODINGS = {
    "raw": lambda value: value,
    "json": json.dumps,
    "json, ensure_ascii=False": lambda value: json.dumps(value, ensure_ascii=False),
    "repr": repr,
    "ascii": ascii,
    "utf-8 bytes": lambda value: repr(value.encode("utf-8", "surrogatepass")),
}
# Letters that each encoding escapes differently, so that the forms really differ.
TRICKY = st.sampled_from(
    ["é", "ß", "ü", "ñ", "中", "😀", '"', "'", "\\", "\n", "\t", "\x00", "\x7f", "/", "a", "Z", "9", " "]
)
VALUES = st.lists(
    st.one_of(TRICKY, st.characters(blacklist_characters="*")), min_size=MIN_MASKED_LENGTH, max_size=24
).map("".join)


def test_a_value_with_a_non_ascii_letter_and_a_quote_is_masked_in_unescaped_json():
    # The case: json.dumps(value, ensure_ascii=False) printed it in clear.
    masker = SecretMasker()
    value = 'pässw"rd'
    masker.add(value)

    printed = masker.mask(json.dumps({"password": value}, ensure_ascii=False))

    assert printed == f'{{"password": "{MASK}"}}'


@pytest.mark.parametrize("encoding", ENCODINGS)
@given(value=VALUES, before=st.text(max_size=8), after=st.text(max_size=8))
@settings(max_examples=150, deadline=None)
def test_no_encoding_of_a_value_survives_masking(encoding, value, before, after):
    assume("*" not in before + after)  # the mask itself is made of stars
    encode = ENCODINGS[encoding]
    masker = SecretMasker()
    masker.add(value)

    printed = masker.mask(f"{before}{encode(value)}{after}")

    assert MASK in printed
    for form in {encode(value), encode(value)[1:-1] if encoding != "raw" else value, value}:
        assert form not in printed
