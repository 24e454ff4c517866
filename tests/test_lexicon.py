"""The lexicon (asr.model.lexicon) and beam search's out-of-lexicon penalty."""

import math

import pytest
import torch

from asr.model.checkpoint import load_model, save_checkpoint
from asr.decoding.search import DecodeOptions, _Hypothesis, _lexicon_charges, beam_search, decode
from asr.model.lexicon import Lexicon, build_lexicon
from asr.model.vocab import Vocabulary
from conftest import tiny_model

WORDS = ["a", "an", "and", "i", "it", "to", "tea", "ten"]


def test_membership_and_prefixes():
    lexicon = Lexicon(["cats", "cat", "dog", "cat", ""])
    assert lexicon.words == ("cat", "cats", "dog") and len(lexicon) == 3
    assert "cat" in lexicon and "cats" in lexicon and "ca" not in lexicon and "catsu" not in lexicon
    assert all(lexicon.is_prefix(p) for p in ["", "c", "ca", "cat", "cats", "d", "dog"])
    assert not any(lexicon.is_prefix(p) for p in ["b", "cb", "catz", "dogs", "e", "z"])
    assert not Lexicon([]).is_prefix("")
    assert lexicon.next_characters("") == {"c", "d"} and lexicon.next_characters("cat") == {"s"}
    assert lexicon.next_characters("cats") == set() and lexicon.next_characters("x") == set()


def test_built_from_word_lists_and_sentences_normalised_as_transcripts(tmp_path):
    (tmp_path / "words").write_text("Café\nAachen's\ndon't\n\n42\nX-ray\n")
    (tmp_path / "text").write_text("The cat sat.\n'Quoted' words, 3 of them!\n")
    lexicon = build_lexicon([tmp_path / "words", tmp_path / "text"])
    assert set(lexicon.words) == {"cafe", "aachen's", "don't", "forty", "two", "x", "ray", "the", "cat", "sat",
                                  "quoted", "words", "three", "of", "them"}
    assert lexicon.metadata["words"] == len(lexicon)
    with pytest.raises(ValueError, match="no such text file"):
        build_lexicon([tmp_path / "missing"])
    (tmp_path / "empty").write_text("\n  \n")
    with pytest.raises(ValueError, match="no words"):
        build_lexicon([tmp_path / "empty"])


def test_the_checkpoint_carries_the_lexicon(tmp_path):
    model = tiny_model()
    model.lexicon = Lexicon(WORDS, {"sources": ["test"]})
    save_checkpoint(model, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")  # weights_only loading: the words are one plain string
    assert loaded.lexicon.words == tuple(sorted(WORDS)) and loaded.lexicon.metadata == {"sources": ["test"]}
    save_checkpoint(tiny_model(), tmp_path / "plain.pt")
    assert load_model(tmp_path / "plain.pt").lexicon is None


def test_charges_fall_on_the_character_that_leaves_the_lexicon_once_per_word():
    vocab, lexicon = Vocabulary(), Lexicon(["tea", "ten"])
    hyps = [_Hypothesis([], [], [], 0.0, word="te"), _Hypothesis([], [], [], 0.0, word="t"),
            _Hypothesis([], [], [], 0.0, word="tx", word_charged=True), _Hypothesis([], [], [], 0.0, word="")]
    charges = _lexicon_charges(lexicon, hyps, vocab, 3.0)
    charged = {k: {vocab.tokens[t] for t in range(len(vocab)) if charges[k, t] > 0} for k in range(len(hyps))}
    letters = set("abcdefghijklmnopqrstuvwxyz'")
    assert charged[0] == (letters - {"a", "n"}) | {" ", "<eos>"}  # "te" is only a prefix: ending it costs
    assert charged[1] == (letters - {"e"}) | {" ", "<eos>"}
    assert charged[2] == set()  # already charged for this word
    assert charged[3] == letters - {"t"}  # between words: a space or the end is free
    assert set(charges.unique().tolist()) == {0.0, 3.0}


def _decode(model, options, seed=0):
    torch.manual_seed(seed)
    audio = torch.randn(2, 16000) * 0.1
    return decode(model, audio, torch.tensor([16000, 12000]), options)


def test_an_infinite_penalty_writes_lexicon_words_only():
    torch.manual_seed(0)
    model = tiny_model()  # untrained: left alone it spells nonsense
    model.lexicon = Lexicon(WORDS)
    free = [r.text for r in _decode(model, DecodeOptions(beam_size=3))]
    assert any(w not in model.lexicon for text in free for w in text.split())  # so the check below can fail
    for options in [DecodeOptions(beam_size=3, oov_penalty=math.inf), DecodeOptions(beam_size=1, oov_penalty=math.inf),
                    DecodeOptions(beam_size=3, ctc_weight=0.5, oov_penalty=math.inf)]:
        for result in _decode(model, options):
            assert result.text.split(), "every lexicon word is reachable: the search must not come back empty"
            assert all(w in model.lexicon for w in result.text.split()), result.text
            assert math.isfinite(result.score)
            assert all(all(w in model.lexicon for w in text.split()) for text, _ in result.nbest)


def test_a_finite_penalty_trades_against_the_acoustics():
    torch.manual_seed(0)
    model = tiny_model()
    model.lexicon = Lexicon(WORDS)
    plain = _decode(model, DecodeOptions(beam_size=3))
    tiny = _decode(model, DecodeOptions(beam_size=3, oov_penalty=1e-6))
    # A negligible penalty changes nothing but the scores, by at most a negligible amount per word.
    assert [r.text for r in tiny] == [r.text for r in plain]
    assert all(abs(a.score - b.score) < 1e-3 for a, b in zip(tiny, plain))
    steep = _decode(model, DecodeOptions(beam_size=3, oov_penalty=50.0))
    off = sum(w not in model.lexicon for r in steep for w in r.text.split())
    assert off < sum(w not in model.lexicon for r in plain for w in r.text.split())


def test_a_penalty_needs_a_lexicon_and_a_sensible_value():
    with pytest.raises(ValueError, match="lexicon"):
        beam_search(tiny_model(), torch.zeros(1, 8000), torch.tensor([8000]), DecodeOptions(oov_penalty=2.0))
    for bad in (-1.0, math.nan):
        with pytest.raises(ValueError, match="oov_penalty"):
            DecodeOptions(oov_penalty=bad)


def test_a_word_cut_by_the_length_bound_is_dropped_not_written_half():
    torch.manual_seed(0)
    model = tiny_model()
    model.lexicon = Lexicon(["a" + "b" * 40])  # longer than the bound on half a second of audio allows
    audio = torch.randn(1, 8000) * 0.1
    result = beam_search(model, audio, torch.tensor([8000]), DecodeOptions(beam_size=2, oov_penalty=math.inf))[0]
    assert result.text == "" and result.tokens == [] and result.attention.shape[0] == 0


def test_the_bundled_checkpoint_carries_its_lexicon():
    model = load_model()  # the model card and README quote its size and sources
    assert model.lexicon is not None and len(model.lexicon) == 105_580
    assert model.lexicon.metadata["sources"] == ["/usr/share/dict/american-english", "data/synth/text/train.txt",
                                                 "data/synth/text/conversation.txt"]
    assert {"hello", "don't", "thursday", "kindnesses"} <= set(model.lexicon.words)
    assert all(word == word.strip().lower() and word for word in model.lexicon.words[:1000])
