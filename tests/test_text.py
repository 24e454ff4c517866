import pytest

from asr.text import normalize_text, number_to_words
from asr.model.vocab import Vocabulary


@pytest.mark.parametrize("raw, expected", [
    ("Hello, World!", "hello world"),
    ("It's 3:45pm.", "it's three forty five pm"),
    ("May 1st, 1999", "may first nineteen ninety nine"),
    ("$2.50 & 100%", "two dollars fifty cents and one hundred percent"),
    ("the 1960s, in 2005", "the nineteen sixties in two thousand five"),
    ("'quoted' don't", "quoted don't"),
    ("café  naïve\tre-enter", "cafe naive re enter"),
    ("1,234,567", "one million two hundred thirty four thousand five hundred sixty seven"),
    ("3.14", "three point one four"),
    ("Call 555-0123 or 555-123-4567.",
     "call five five five zero one two three or five five five one two three four five six seven"),
    ("1990-2000, pages 100-200", "nineteen ninety two thousand pages one hundred two hundred"),  # not telephones
    ("", ""),
    ("?!...", ""),
])
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def test_normalised_text_only_uses_the_vocabulary():
    vocabulary = Vocabulary()
    text = normalize_text("Ünïcödé — 42nd St. @ 7:05, #1 “quote” ½ 10% off!")
    assert vocabulary.decode(vocabulary.encode(text)) == text
    assert vocabulary.unk_id not in vocabulary.encode(text)


def test_number_to_words():
    assert number_to_words(0) == "zero"
    assert number_to_words(115) == "one hundred fifteen"
    assert number_to_words(2_000_017) == "two million seventeen"
