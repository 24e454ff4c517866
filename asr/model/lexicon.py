"""A lexicon: the words of the language, so that beam search can prefer real words.

A character speller can write any string, which is its strength (no word is out of
its vocabulary) and its weakness: on a voice it finds hard it writes near-words such
as "illushively".  Beam search asks, after every character, whether the word being
spelled is still on its way to a word in the lexicon.  The first character that
leaves every word, or a word boundary after a prefix that is not itself a word,
costs the hypothesis ``DecodeOptions.oov_penalty`` (once per word), so a real word
that the audio supports nearly as well wins the beam.  A finite penalty keeps
names and new words possible when the audio insists on them; an infinite one
writes lexicon words only.  This is the unknown-word score of lexicon-based CTC
decoders (flashlight's ``unk_score``, pyctcdecode's ``unk_score_offset``), applied
per character so the beam is steered before a misspelling is complete.

The words are kept sorted, so "is this a prefix of some word?" is one binary
search (the first word not before the prefix starts with it exactly when any
does): no trie to build or to store.  The lexicon travels in the checkpoint as
one newline-separated string (:mod:`asr.model.checkpoint`).
"""

from __future__ import annotations

from bisect import bisect_left

from asr.text import read_texts
from asr.model.vocab import CHARACTERS

_CACHE_LIMIT = 100_000  # prefixes whose next characters are remembered


class Lexicon:
    def __init__(self, words, metadata: dict | None = None):
        self.words: tuple[str, ...] = tuple(sorted({w for w in words if w}))
        self.metadata: dict = dict(metadata or {})  # where the words came from, saved with the checkpoint
        self._next: dict[str, frozenset[str]] = {}  # next_characters' answers: a beam asks the same often

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        i = bisect_left(self.words, word)
        return i < len(self.words) and self.words[i] == word

    def is_prefix(self, prefix: str) -> bool:
        """Whether some word starts with ``prefix`` (every word is a prefix of itself; "" of all)."""
        i = bisect_left(self.words, prefix)
        return i < len(self.words) and self.words[i].startswith(prefix)

    def next_characters(self, prefix: str) -> frozenset[str]:
        """The characters that ``prefix`` can go on with and still begin a word."""
        found = self._next.get(prefix)  # read once: the demo decodes in several threads, and one may clear
        if found is None:
            if len(self._next) > _CACHE_LIMIT:  # a long-running demo must not grow without bound
                self._next.clear()
            found = self._next[prefix] = frozenset(c for c in CHARACTERS if self.is_prefix(prefix + c))
        return found

    def to_dict(self) -> dict:
        return {"words": "\n".join(self.words), "metadata": dict(self.metadata)}

    @classmethod
    def from_dict(cls, section: dict) -> "Lexicon":
        return cls(section["words"].split("\n"), section.get("metadata", {}))


def build_lexicon(paths) -> Lexicon:
    """A lexicon of every word in text files, normalised as transcripts are.

    A file can be a word list (one word per line, like /usr/share/dict/words) or
    running text (one sentence per line): both give the words the speller could
    write.  A one-line ValueError for a file that can't be read, or no words at all.
    """
    words = {word for line in read_texts(paths) for word in line.split()}
    if not words:
        raise ValueError("the lexicon files hold no words")
    return Lexicon(words, {"sources": [str(p) for p in paths], "words": len(words)})
