"""The written form of a transcript: what a person expects to read, timed word by word.

The speller writes spoken-form, lower-case words ("set a timer for ten minutes").  The written
form is made from them in two steps:

1. **Capitals and punctuation**, when the checkpoint carries a punctuator (``model.punctuator``,
   see :mod:`asr.model.punctuator`).  It comes first because it was trained on spoken-form words,
   and it is given the pause after each word, read off the attention timings.
2. **Numerals** (inverse text normalisation): ``text2num``'s ``find_numbers`` finds the number
   words and their values ("ten minutes" -> "10 minutes", "twenty first" -> "21st", "three
   point five" -> "3.5", "twelve thousand" -> "12,000": five digits and more grouped in
   thousands); a lone small number stays a word ("the one I like").  A few spoken
   patterns are then put together where that is safe: years ("twenty twenty" -> "2020",
   "nineteen oh five" -> "1905"), clock times followed by a.m./p.m. or with minutes after
   "at", "until"... ("three thirty p m" -> "3:30 p.m.", "at ten fifteen" -> "at 10:15"),
   "five dollars" -> "$5", "ten percent" -> "10%", "p m" -> "p.m." even after a word that is no
   hour, seven or ten digits said one at a time as a
   telephone number ("five five five one two three four" -> "555-1234"); "a hundred people"
   stays in words.
   A pause of ``NUMBER_PAUSE_SECONDS``, a punctuation mark or a segment boundary keeps two
   numbers apart ("twenty, five" is not 25).

Every written token keeps the timing of the spoken words it came from: a numeral spanning
several words starts with the first and ends with the last.  :func:`asr.text.normalize_text`
maps the written form back onto spoken words, so accuracy is scored on either form alike
(``python bench/human.py --written`` scores it).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from asr.decoding.alignment import WordTiming

NUMBER_PAUSE_SECONDS = 0.5  # two number words this far apart are two numbers ("five ... six")
SMALL_NUMBER_THRESHOLD = 3.0  # text2num's threshold: a lone number below it stays a word ("one", "two")
_MERIDIEM = {("a", "m"): "a.m.", ("p", "m"): "p.m.", ("am",): "a.m.", ("pm",): "p.m."}
_TIME_CUES = {"at", "by", "until", "till", "around", "from", "before", "after", "about"}
_DECADES = ("tens", "twenties", "thirties", "forties", "fifties", "sixties", "seventies", "eighties", "nineties")
_SCALES = {"hundred", "thousand", "million", "billion", "trillion"}
_SEPARATING_MARKS = set(",.;:?!")
_DIGITS = {word: str(digit) for digit, word in enumerate("zero one two three four five six seven eight nine".split())}
_DIGITS["oh"] = "0"  # said for a zero inside a telephone number


@dataclass(frozen=True)
class _Span:
    """Spoken words ``start:end`` written as ``text``."""

    start: int
    end: int
    text: str


class _Token:
    """One spoken word for text2num's ``find_numbers`` (its ``Token`` protocol)."""

    def __init__(self, word: str, separated: bool):
        self.word, self.separated = word, separated

    def text(self) -> str:
        return self.word

    def nt_separated(self, previous) -> bool:
        return self.separated

    def not_a_number_part(self) -> bool:
        return False


def write_words(words: list[WordTiming], punctuator=None, itn: bool = True) -> list[WordTiming]:
    """The written tokens of spoken ``words``, each timed by the words it was written from.

    Args:
        words: the speller's words with their times (seconds), in order.
        punctuator: a punctuation model for :func:`asr.model.punctuator.restore`, or None for none.
        itn: write numbers as numerals.
    """
    return [token for _, token in _write(words, punctuator, itn, frozenset())]


def write_segments(segments: list[list[WordTiming]], punctuator=None, itn: bool = True) -> list[list[WordTiming]]:
    """:func:`write_words` over consecutive segments at once, split back into segments: the
    punctuator reads across their boundaries, a numeral never spans one."""
    flat = [w for words in segments for w in words]
    owner = [s for s, words in enumerate(segments) for _ in words]
    breaks = {i for i in range(1, len(flat)) if owner[i] != owner[i - 1]}
    out: list[list[WordTiming]] = [[] for _ in segments]
    for first, token in _write(flat, punctuator, itn, breaks):
        out[owner[first]].append(token)
    return out


def write_text(text: str, punctuator=None, itn: bool = True) -> str:
    """The written form of spoken-form text that has no timings (an n-best alternative, say)."""
    words = [WordTiming(w, 0.0, 0.0, 1.0) for w in text.split()]
    return " ".join(w.word for w in write_words(words, punctuator, itn))


def _write(words: list[WordTiming], punctuator, itn: bool, breaks) -> list[tuple[int, WordTiming]]:
    """(index of the first spoken word, written token) for each token; ``breaks`` are the indices
    of words that start a segment."""
    if not words:
        return []
    spoken = [w.word for w in words]
    pauses = [max(nxt.start - w.end, 0.0) for w, nxt in zip(words, words[1:])] + [0.0]
    shown = list(spoken)
    if punctuator is not None:
        from asr.model.punctuator import restore

        shown = list(restore(punctuator, spoken, pauses))
        if len(shown) != len(spoken):
            raise ValueError(f"the punctuator returned {len(shown)} words for {len(spoken)}")
    spans = {span.start: span for span in (_number_spans(spoken, shown, pauses, breaks) if itn else [])}
    out, i = [], 0
    while i < len(words):
        span = spans.get(i)
        if span is None:
            token, end = shown[i], i + 1
        else:
            lead, _, _ = _split_marks(shown[span.start])
            _, _, trail = _split_marks(shown[span.end - 1])
            if span.text.endswith(".") and trail.startswith("."):
                trail = trail[1:]  # the period of "p.m." ends the sentence too
            token, end = lead + span.text + trail, span.end
        group = words[i:end]
        confidence = math.exp(sum(math.log(max(w.confidence, 1e-12)) for w in group) / len(group))
        out.append((i, WordTiming(token, group[0].start, group[-1].end, confidence)))
        i = end
    return out


def written_text(model, transcription, itn: bool = True) -> str:
    """The written form of a transcription's speller output, with ``model``'s punctuator if it has one.

    :func:`asr.decoding.transcribe.transcribe` already returns it as ``.text``; this is for callers that
    hold only the raw segments (a live view rebuilding its running transcript, say).
    """
    segments = write_segments([s.words for s in transcription.segments], getattr(model, "punctuator", None), itn)
    return " ".join(w.word for words in segments for w in words)


def _split_marks(word: str) -> tuple[str, str, str]:
    """(leading marks, the word, trailing marks): ``'"Hello,'`` -> ``('"', 'Hello', ',')``."""
    match = re.match(r"^([^\w']*)(.*?)([^\w']*)$", word)
    return match.group(1), match.group(2), match.group(3)


def _number_spans(spoken: list[str], shown: list[str], pauses: list[float], breaks) -> list[_Span]:
    """Non-overlapping spans of spoken words to write as numerals, in order."""
    from text_to_num import find_numbers

    separated = [i == 0 or i in breaks or pauses[i - 1] >= NUMBER_PAUSE_SECONDS
                 or any(mark in _SEPARATING_MARKS for mark in _split_marks(shown[i - 1])[2])
                 for i in range(len(spoken))]
    tokens = [_Token(w, s) for w, s in zip(spoken, separated)]
    every = {o.start: o for o in find_numbers(tokens, "en", 0.0)}  # lone small numbers too: "one p m"
    lone = {o.start: o for o in find_numbers(tokens, "en", SMALL_NUMBER_THRESHOLD)}

    def joined(a: int, b: int) -> bool:  # spoken words a..b-1 are one run, with nothing keeping them apart
        return all(not separated[k] for k in range(a + 1, b))

    def whole(o) -> int | None:
        return int(o.value) if o and not o.is_ordinal and "." not in o.text and o.value == int(o.value) else None

    spans, i = [], 0
    while i < len(spoken):
        span = (_telephone(i, spoken, joined) or _time(i, spoken, every, joined, whole)
                or _year(i, spoken, every, joined, whole) or _meridiem(i, spoken, joined))
        if span is None and i in lone:
            span = _plain(lone[i], spoken, joined, whole)
        if span is None:
            i += 1
            continue
        spans.append(span)
        i = span.end
    return spans


def _telephone(i, spoken, joined) -> _Span | None:
    """Seven or ten digits said one at a time, as a telephone number is: ``five five five one two
    three four`` -> 555-1234, ten -> 555-123-4567.  Any other run of digits is left to text2num."""
    inside_a_run = i > 0 and spoken[i - 1] in _DIGITS and joined(i - 1, i + 1)
    if spoken[i] not in _DIGITS or spoken[i] == "oh" or inside_a_run:
        return None  # a run starts with a digit's own name ("oh" alone is a word), and only at its start
    end = i
    while end < len(spoken) and spoken[end] in _DIGITS and joined(i, end + 1):
        end += 1
    digits = "".join(_DIGITS[word] for word in spoken[i:end])
    if len(digits) == 7:
        return _Span(i, end, f"{digits[:3]}-{digits[3:]}")
    if len(digits) == 10:
        return _Span(i, end, f"{digits[:3]}-{digits[3:6]}-{digits[6:]}")
    return None


def _time(i, spoken, every, joined, whole) -> _Span | None:
    """``three thirty p m`` -> 3:30 p.m., ``seven a m`` -> 7 a.m., ``at ten fifteen`` -> at 10:15."""
    hour = every.get(i)
    if whole(hour) is None or not 1 <= whole(hour) <= 12 or hour.end != i + 1:
        return None
    end, minutes = i + 1, None
    nxt = every.get(end)
    if whole(nxt) is not None and 10 <= whole(nxt) <= 59 and nxt.end - end <= 2:
        end, minutes = nxt.end, whole(nxt)
    elif end < len(spoken) and spoken[end] == "oh":
        nxt = every.get(end + 1)
        if whole(nxt) is not None and 1 <= whole(nxt) <= 9 and nxt.end == end + 2:
            end, minutes = end + 2, whole(nxt)
    meridiem = None
    for words, written in _MERIDIEM.items():
        if tuple(spoken[end:end + len(words)]) == words and joined(i, end + len(words)):
            meridiem, end = written, end + len(words)
            break
    cued = i > 0 and spoken[i - 1] in _TIME_CUES
    if not joined(i, end) or meridiem is None and not (cued and minutes is not None):
        return None
    text = str(whole(hour)) + (f":{minutes:02d}" if minutes is not None else "")
    return _Span(i, end, text + (f" {meridiem}" if meridiem else ""))


def _meridiem(i, spoken, joined) -> _Span | None:
    """``p m`` -> p.m. where no clock time comes before it (a misheard hour: "at fire p m")."""
    pair = tuple(spoken[i:i + 2])
    return _Span(i, i + 2, _MERIDIEM[pair]) if len(pair) == 2 and pair in _MERIDIEM and joined(i, i + 2) else None


def _year(i, spoken, every, joined, whole) -> _Span | None:
    """``twenty twenty`` -> 2020, ``nineteen ninety nine`` -> 1999, ``nineteen oh five`` -> 1905,
    ``the nineteen eighties`` -> the 1980s."""
    century = every.get(i)
    if whole(century) not in (18, 19, 20) or century.end != i + 1:
        return None
    nxt = every.get(i + 1)
    if whole(nxt) is not None and 10 <= whole(nxt) <= 99 and nxt.end - (i + 1) <= 2 and joined(i, nxt.end):
        return _Span(i, nxt.end, str(100 * whole(century) + whole(nxt)))
    if i + 1 < len(spoken) and spoken[i + 1] == "oh" and whole(century) != 20:
        nxt = every.get(i + 2)
        if whole(nxt) is not None and 1 <= whole(nxt) <= 9 and nxt.end == i + 3 and joined(i, i + 3):
            return _Span(i, i + 3, str(100 * whole(century) + whole(nxt)))
    if i + 1 < len(spoken) and spoken[i + 1] in _DECADES and joined(i, i + 2):
        decade = _DECADES.index(spoken[i + 1]) + 1
        return _Span(i, i + 2, f"{100 * whole(century) + 10 * decade}s")
    return None


def _plain(occurrence, spoken, joined, whole) -> _Span | None:
    """A number as text2num writes it, with "a hundred" kept in words, "$" and "%" for dollars and percent."""
    start, end, text = occurrence.start, occurrence.end, _grouped(occurrence.text)
    if spoken[start] in _SCALES and start > 0 and spoken[start - 1] == "a" and joined(start - 1, end):
        if end - start == 1:
            return None  # "a hundred people" reads better than "a 100 people"
        start -= 1  # "a hundred and fifty" -> 150
    value = whole(occurrence)
    if value is not None and value != 1 and end < len(spoken) and spoken[end] == "dollars" and joined(start, end + 1):
        return _Span(start, end + 1, f"${text}")
    if end < len(spoken) and spoken[end] == "percent" and joined(start, end + 1):
        return _Span(start, end + 1, f"{text}%")
    return _Span(start, end, text)


def _grouped(text: str) -> str:
    """A numeral of five digits or more grouped in thousands ("12000" -> "12,000", "6875433.90" ->
    "6,875,433.90"), as a reader expects; four digits are left alone, since they are often a year."""
    whole, dot, fraction = text.partition(".")
    if not whole.isdigit() or len(whole) < 5 or whole.startswith("0"):  # "00123" is a code, not a number
        return text
    return f"{int(whole):,}{dot}{fraction}"
