"""The written form: numerals where they are safe, timings carried over, the punctuator applied first."""

import pytest

from asr.decoding.alignment import WordTiming
from asr.decoding.search import _distinct
from asr.text import normalize_text
from asr.decoding.transcribe import _Job
from asr.decoding.written import write_segments, write_text, write_words, written_text


def _timed(text: str, pause_after: dict[int, float] | None = None) -> list[WordTiming]:
    """Words 0.3 s long, 0.05 s apart, or ``pause_after[i]`` seconds after word i."""
    words, t = [], 0.0
    for i, word in enumerate(text.split()):
        words.append(WordTiming(word, t, t + 0.3, 0.9))
        t += 0.3 + (pause_after or {}).get(i, 0.05)
    return words


@pytest.mark.parametrize("spoken, written", [
    ("set a timer for ten minutes", "set a timer for 10 minutes"),
    ("the overwatch league for twenty twenty", "the overwatch league for 2020"),
    ("meet me at three thirty p m", "meet me at 3:30 p.m."),
    ("wake me at seven a m", "wake me at 7 a.m."),
    ("see you at fire p m", "see you at fire p.m."),  # an hour misheard: still p.m.
    ("a m", "a.m."),
    ("the train leaves at ten fifteen", "the train leaves at 10:15"),
    ("she was born in nineteen ninety nine", "she was born in 1999"),
    ("built in nineteen oh five", "built in 1905"),
    ("music of the nineteen eighties", "music of the 1980s"),
    ("the twenty first century", "the 21st century"),
    ("add three point five cups", "add 3.5 cups"),
    ("it costs five dollars", "it costs $5"),
    ("up ten percent", "up 10%"),
    ("one hundred and five people", "105 people"),
    ("a hundred and fifty people", "150 people"),
    # Five digits and more are grouped in thousands, as a reader expects; four are left alone (years).
    ("twelve thousand people", "12,000 people"),
    ("two thousand five hundred people", "2500 people"),
    ("a budget of three million dollars", "a budget of $3,000,000"),
    ("six million eight hundred seventy five thousand four hundred thirty three point nine zero",
     "6,875,433.90"),
    ("up twelve thousand percent", "up 12,000%"),
    # Seven or ten digits said one at a time are a telephone number; other runs stay digit by digit.
    ("call five five five one two three four", "call 555-1234"),
    ("five five five one two three four five six seven", "555-123-4567"),
    ("the code is one two three four five", "the code is 1 2 3 4 5"),
    # Words that only look like numbers, or small ones alone, stay words.
    ("the one i like", "the one i like"),
    ("no one knows", "no one knows"),
    ("i have one apple", "i have one apple"),
    ("a hundred people", "a hundred people"),
    ("i am here at last", "i am here at last"),
    ("she sells sea shells by the shore", "she sells sea shells by the shore"),
])
def test_numerals_where_they_are_safe(spoken, written):
    assert write_text(spoken) == written
    if " and " not in spoken:  # "one hundred and five" comes back as "one hundred five"
        assert normalize_text(written) == spoken  # scoring sees the same words


def test_itn_off_keeps_the_spoken_words():
    assert write_text("set a timer for ten minutes", itn=False) == "set a timer for ten minutes"


def test_a_numeral_takes_the_first_start_and_the_last_end_of_its_words():
    words = _timed("in twenty twenty at three thirty p m")
    written = write_words(words)
    assert [w.word for w in written] == ["in", "2020", "at", "3:30 p.m."]
    assert (written[1].start, written[1].end) == (words[1].start, words[2].end)
    assert (written[3].start, written[3].end) == (words[4].start, words[7].end)
    assert written[0] == words[0] and written[2] == words[3]
    assert all(a.end <= b.start for a, b in zip(written, written[1:]))


def test_a_pause_keeps_two_numbers_apart():
    assert [w.word for w in write_words(_timed("twenty five"))] == ["25"]
    assert [w.word for w in write_words(_timed("twenty five", pause_after={0: 0.8}))] == ["20", "5"]


def test_a_numeral_never_spans_two_segments():
    first, second = _timed("it was twenty"), _timed("twenty people")
    second = [WordTiming(w.word, w.start + 1.0, w.end + 1.0, w.confidence) for w in second]
    segments = write_segments([first, second])
    assert [[w.word for w in s] for s in segments] == [["it", "was", "20"], ["20", "people"]]


class FakePunctuator:
    """Capitalises the first word, ends the text with a period and puts a comma at long pauses."""

    def restore(self, words, pauses):
        self.seen = list(words), list(pauses)
        out = [w.capitalize() if i == 0 else w for i, w in enumerate(words)]
        out = [w + "," if p >= 0.5 and i + 1 < len(out) else w for i, (w, p) in enumerate(zip(out, pauses))]
        out[-1] += "."
        return out


@pytest.fixture
def punctuator(monkeypatch):
    import asr.model.punctuator

    fake = FakePunctuator()
    monkeypatch.setattr(asr.model.punctuator, "restore", lambda punctuator, words, pauses: punctuator.restore(words, pauses))
    return fake


def test_the_punctuator_reads_spoken_words_and_pauses_before_numerals_are_written(punctuator):
    words = _timed("meet me at three thirty p m", pause_after={1: 0.6})
    written = write_words(words, punctuator)
    assert punctuator.seen[0] == "meet me at three thirty p m".split()  # spoken form, as it was trained on
    assert punctuator.seen[1][1] == pytest.approx(0.6)
    assert " ".join(w.word for w in written) == "Meet me, at 3:30 p.m."  # no second period after p.m.


def test_punctuation_between_numbers_keeps_them_apart(punctuator):
    words = _timed("twenty five", pause_after={0: 0.6})  # the fake puts a comma there
    assert " ".join(w.word for w in write_words(words, punctuator)) == "20, 5."


def test_written_text_rebuilds_a_transcriptions_written_form(punctuator):
    from asr.decoding.search import DecodeResult
    import numpy as np

    words = _timed("set a timer for ten minutes")
    text = " ".join(w.word for w in words)
    result = DecodeResult(text=text, tokens=[0] * len(text), token_log_probs=np.zeros(len(text)),
                          attention=np.zeros((len(text), 0)), char_starts=np.zeros(len(text)),
                          char_ends=np.zeros(len(text)), words=words, score=0.0, duration=2.0)
    model = type("Model", (), {"punctuator": punctuator})()
    transcription = _Job([(0, 32000)], 32000, [result]).finish(model)
    assert transcription.text == "Set a timer for 10 minutes."
    assert transcription.raw_text == text
    assert [w.word for w in transcription.raw_words] == text.split()
    assert written_text(model, transcription) == transcription.text
    assert written_text(model, transcription, itn=False) == "Set a timer for ten minutes."
    plain = _Job([(0, 32000)], 32000, [result]).finish(model, itn=False)
    assert plain.text == "Set a timer for ten minutes." and plain.raw_text == text


def test_nbest_keeps_one_entry_per_text():
    nbest = [("set a timer", -1.0), ("set a timer ", -1.1), ("sat a timer", -1.2), ("set  a timer", -1.3)]
    assert _distinct(nbest) == [("set a timer", -1.0), ("sat a timer", -1.2)]


# Written references, most with numbers: each is spoken in its normalised form, written, and normalised back.
ROUND_TRIP = ["Set a timer for 10 minutes.", "Wake me up at 7 a.m. tomorrow.", "The meeting starts at 3:30 p.m.",
              "We moved here in 2020.", "The train leaves at 10:15.", "It costs $5 at the shop.",
              "Sales rose by 10% last year.", "The 21st century began in 2001.", "There were 150 people at the party.",
              "Add 3.5 cups of flour.", "Music from the 1980s is back.", "Remind me on the 4th of July.",
              "The one I like is blue.", "No one knows the way.", "I have two cats and one dog."]


@pytest.mark.parametrize("reference", ROUND_TRIP)
def test_the_written_form_scores_as_the_words_it_was_written_from(reference):
    """Scoring normalises both sides, so writing numerals must never cost a word."""
    spoken = normalize_text(reference)
    assert normalize_text(write_text(spoken)) == spoken
