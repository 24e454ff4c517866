"""Text normalisation for training targets and scoring.

Every transcript the model learns from, and every reference it is scored
against, goes through :func:`normalize_text`, so the model only ever sees
the characters in :mod:`asr.model.vocab`: lowercase ``a``-``z``, space and the
apostrophe.  What the function does, in order:

1. Unicode is folded to ASCII (``café`` -> ``cafe``), curly quotes to ``'``.
2. Symbols that are spoken become words: ``&`` -> ``and``, ``%`` ->
   ``percent``, ``$5`` -> ``five dollars``, ``+`` -> ``plus``, ``@`` -> ``at``.
3. Numbers are spelled out the way people read them: ``42`` -> ``forty two``,
   ``1st`` -> ``first``, ``3.5`` -> ``three point five``, ``1999`` ->
   ``nineteen ninety nine`` (four-digit numbers between 1100 and 2099 read as
   years), ``1,000`` -> ``one thousand``, ``3:05`` -> ``three oh five``,
   ``$2.50`` -> ``two dollars fifty cents``.
4. Letters are lowercased; hyphens, slashes and underscores become spaces;
   every other punctuation mark is dropped.  An apostrophe survives only
   inside a word (``don't``), never as a quote mark.
5. Runs of whitespace collapse to one space, with none at either end.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                      "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}
_SYMBOL_WORDS = {"&": " and ", "%": " percent ", "+": " plus ", "@": " at ", "=": " equals ",
                 "#": " number "}
_CURRENCY = {"$": "dollars", "£": "pounds", "€": "euros"}


def number_to_words(n: int) -> str:
    """Spell a non-negative integer in English words, without "and" or hyphens."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + number_to_words(rest))
    for scale, name in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            return number_to_words(high) + " " + name + ("" if rest == 0 else " " + number_to_words(rest))
    raise AssertionError("unreachable")


def year_to_words(n: int) -> str:
    """Read a year the way people say it: 1999 -> nineteen ninety nine, 2005 -> two thousand five."""
    high, low = divmod(n, 100)
    if 2000 <= n < 2010 or low == 0 and n % 1000 == 0:
        return number_to_words(n)
    if low == 0:
        return number_to_words(high) + " hundred"
    if low < 10:
        return number_to_words(high) + " oh " + _ONES[low]
    return number_to_words(high) + " " + number_to_words(low)


def ordinal_to_words(n: int) -> str:
    """Spell an ordinal: 1 -> first, 22 -> twenty second, 100 -> one hundredth."""
    words = number_to_words(n).split()
    last = words[-1]
    if last in _ORDINAL_IRREGULAR:
        words[-1] = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def _spell_number(match: re.Match) -> str:
    currency, digits, decimals, suffix = match.group(1), match.group(2), match.group(3), match.group(4)
    digits = digits.replace(",", "")
    value = int(digits)
    suffix = (suffix or "").lower()
    if suffix in ("st", "nd", "rd", "th"):
        spoken = ordinal_to_words(value)
    elif currency and decimals is not None and len(decimals) == 2:
        spoken = f"{number_to_words(value)} {_CURRENCY[currency]} {number_to_words(int(decimals))} cents"
        currency = None
    elif decimals is None and currency is None and len(digits) == 4 and 1100 <= value <= 2099:
        spoken = year_to_words(value)
    else:
        spoken = number_to_words(value)
        if decimals is not None:
            spoken += " point " + " ".join(_ONES[int(d)] for d in decimals)
    if suffix == "s":  # "1960s", "90s"
        spoken = spoken[:-1] + "ies" if spoken.endswith("y") else spoken + "s"
    if currency:
        spoken += " " + _CURRENCY[currency]
    return f" {spoken} "


def _spell_time(match: re.Match) -> str:
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes == 0:
        return f" {number_to_words(hours)} o'clock "
    if minutes < 10:
        return f" {number_to_words(hours)} oh {_ONES[minutes]} "
    return f" {number_to_words(hours)} {number_to_words(minutes)} "


def _spell_digits(match: re.Match) -> str:
    return " " + " ".join(_ONES[int(d)] for d in match.group(0) if d.isdigit()) + " "


# A telephone number (555-1234, 555-123-4567) is said a digit at a time.
_PHONE = re.compile(r"(?<![\d.,-])\d{3}-(?:\d{3}-)?\d{4}(?![\d-])")
_TIME = re.compile(r"\b(\d{1,2}):([0-5]\d)(?!\d)")
_NUMBER = re.compile(r"([$£€])?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(st|nd|rd|th|s)?(?![a-z0-9])", re.IGNORECASE)


def normalize_text(text: str) -> str:
    """Map arbitrary English text onto the model's character set (see module docstring)."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    text = text.replace("£", " GBP_SIGN ").replace("€", " EUR_SIGN ")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = text.replace(" GBP_SIGN ", "£").replace(" EUR_SIGN ", "€")
    for symbol, word in _SYMBOL_WORDS.items():
        text = text.replace(symbol, word)
    text = _PHONE.sub(_spell_digits, text)
    text = _TIME.sub(_spell_time, text)
    text = _NUMBER.sub(_spell_number, text)
    text = text.replace("$", " dollars ")
    text = text.lower()
    text = re.sub(r"[-/_]", " ", text)
    text = re.sub(r"[^a-z' ]", " ", text)
    # An apostrophe that is not between two letters is a quote mark, not part of a word.
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)
    return " ".join(text.split())


def read_lines(paths) -> list[str]:
    """Non-empty lines, stripped, of UTF-8 text files; a one-line ValueError for a file that can't be read as text."""
    lines = []
    for path in map(Path, paths):
        try:
            lines += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except FileNotFoundError:
            raise ValueError(f"{path}: no such text file") from None
        except IsADirectoryError:
            raise ValueError(f"{path}: is a directory, not a text file") from None
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not UTF-8 text") from None
    return lines


def read_texts(paths) -> list[str]:
    """Normalised non-empty lines of text files; a one-line ValueError for a file that can't be read as text."""
    return [t for t in map(normalize_text, read_lines(paths)) if t]
