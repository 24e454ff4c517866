"""The word n-gram LM (asr.model.word_lm): ARPA reading, back-off, look-ahead, the checkpoint, beam search."""

import math

import pytest
import torch

from asr.model.checkpoint import load_model, save_checkpoint
from asr.decoding.search import DecodeOptions, _Hypothesis, _word_lm_gains, decode
from asr.model.vocab import Vocabulary
from asr.model.word_lm import UNKNOWN_LOG_PROB, read_arpa
from conftest import tiny_model

LN10 = math.log(10)

ARPA = """\\data\\
ngram 1=7
ngram 2=5
ngram 3=2

\\1-grams:
-99 <s> -0.5
-1.0 </s>
-0.7 the -0.3
-1.2 tea -0.2
-1.5 ten
-1.1 cat -0.1
-2.0 cats

\\2-grams:
-0.2 <s> the -0.25
-0.4 the cat
-0.9 the tea
-3.0 the ten
-0.15 cat </s>

\\3-grams:
-0.1 <s> the cat
-2.5 <s> the tea

\\end\\
"""


@pytest.fixture
def arpa(tmp_path):
    path = tmp_path / "lm.arpa"
    path.write_text(ARPA)
    return path


def test_reads_bigrams_and_backs_off(arpa):
    lm = read_arpa(arpa)
    assert len(lm) == 7 and lm.bigram_count() == 5 and lm.trigram_count() == 2
    assert lm.log_prob("the", "cat") == pytest.approx(-0.4 * LN10)
    assert lm.log_prob("the", "cats") == pytest.approx((-0.3 - 2.0) * LN10)  # back-off weight + unigram
    assert lm.log_prob("ten", "cat") == pytest.approx(-1.1 * LN10)  # no back-off weight: 0
    assert lm.log_prob("the", "dog") == UNKNOWN_LOG_PROB


def test_trigrams_back_off_to_the_bigram_of_the_last_word(arpa):
    lm = read_arpa(arpa)
    assert lm.log_prob(("<s>", "the"), "cat") == pytest.approx(-0.1 * LN10)  # its trigram
    assert lm.log_prob(("<s>", "the"), "tea") == pytest.approx(-2.5 * LN10)  # a trigram below its bigram
    assert lm.log_prob(("<s>", "the"), "ten") == pytest.approx((-0.25 - 3.0) * LN10)  # context back-off + bigram
    assert lm.log_prob(("<s>", "the"), "cats") == pytest.approx((-0.25 - 0.3 - 2.0) * LN10)  # and on to the unigram
    assert lm.log_prob(("cat", "the"), "tea") == lm.log_prob("the", "tea")  # no such context: the bigram
    assert lm.log_prob(("the",), "tea") == lm.log_prob("the", "tea")
    # Look-ahead over a context: its trigrams, or its back-off weight on the bigram look-ahead.
    assert lm.lookahead(("<s>", "the"), "ca") == pytest.approx(-0.1 * LN10)
    assert lm.lookahead(("<s>", "the"), "te") == pytest.approx((-0.25 - 0.9) * LN10)  # "tea"'s bigram beats its trigram
    assert lm.lookahead(("cat", "the"), "ca") == lm.lookahead("the", "ca")
    assert lm.lookahead(("<s>", "the"), "x") == UNKNOWN_LOG_PROB


def test_next_word_log_probs_answer_as_log_prob_does_for_every_word(arpa):
    lm = read_arpa(arpa)
    for history in [(), ("the",), ("<s>", "the"), ("cat", "the"), ("cat",), ("dog",)]:
        scores = lm.next_word_log_probs(history)
        assert scores.shape == (len(lm.words),)
        for i, word in enumerate(lm.words):
            expected = lm.log_prob(history, word) if history else float(lm.unigram_log_probs[i])
            assert scores[i] == pytest.approx(expected, abs=1e-5), (history, word)


def test_trigrams_close_to_their_back_off_are_pruned_and_empty_contexts_dropped(arpa):
    # <s> the cat: -0.1 against -0.25 - 0.4 = -0.65; <s> the tea: -2.5 against -0.25 - 0.9 = -1.15.
    assert read_arpa(arpa, prune=0.58).trigram_count() == 1  # only "<s> the tea" (1.35 below)
    lm = read_arpa(arpa, prune=2.0)
    assert lm.trigram_count() == 0 and lm.log_prob(("<s>", "the"), "ten") == lm.log_prob("the", "ten")


def test_lookahead_is_the_best_word_with_the_prefix(arpa):
    lm = read_arpa(arpa)
    assert lm.lookahead("the", "ca") == pytest.approx(-0.4 * LN10)  # "cat", from its bigram
    assert lm.lookahead("the", "te") == pytest.approx(-0.9 * LN10)  # "tea" beats "ten"'s low bigram
    assert lm.lookahead("cats", "te") == pytest.approx(-1.2 * LN10)  # unigrams only
    assert lm.lookahead("the", "cats") == pytest.approx((-0.3 - 2.0) * LN10)
    assert lm.lookahead("the", "x") == UNKNOWN_LOG_PROB


def _lookaheads_agree(lm, histories, prefixes, characters):
    for history in histories:
        for prefix in prefixes:
            row = lm.lookaheads(history, prefix, characters)
            expected = [lm.lookahead(history, prefix + c) for c in characters]
            assert row.tolist() == expected, (history, prefix)  # exactly: beam search must not change


def test_lookaheads_answer_for_every_character_as_lookahead_does(arpa):
    lm = read_arpa(arpa)
    characters = "'" + "abcdefghijklmnopqrstuvwxyz"
    _lookaheads_agree(lm, [(), ("the",), ("<s>", "the"), ("cat", "the"), ("dog",), ("<s>", "dog")],
                      ["", "c", "ca", "cat", "t", "te", "x", "cats"], characters)


@pytest.mark.slow
def test_lookaheads_of_the_bundled_word_lm_answer_as_lookahead_does():
    lm = load_model().word_language_model
    characters = "'" + "abcdefghijklmnopqrstuvwxyz"
    _lookaheads_agree(lm, [("<s>",), ("<s>", "please"), ("the",), ("of", "the"), ("zzyzx",)],
                      ["", "a", "th", "thre", "enter", "don", "don'", "qz", "mother"], characters)


def test_pruning_drops_bigrams_close_to_their_back_off(arpa):
    lm = read_arpa(arpa, prune=0.5)
    # the cat: -0.4 against -0.3 - 1.1 = -1.4 (kept); the tea: -0.9 against -1.5 (kept);
    # the ten: -3.0 against -1.8 (kept); <s> the: -0.2 against -0.5 - 0.7 = -1.2 (kept);
    # cat </s>: -0.15 against -0.1 - 1.0 = -1.1 (kept) -- and with a wider margin, fewer.
    assert lm.bigram_count() == 5
    assert read_arpa(arpa, prune=1.05).bigram_count() == 1  # only "the ten" (1.2 below its back-off)


def test_not_arpa_or_cut_short_is_one_line(tmp_path, arpa):
    (tmp_path / "text").write_text("hello world\n")
    with pytest.raises(ValueError, match="not an ARPA"):
        read_arpa(tmp_path / "text")
    (tmp_path / "short.arpa").write_text(ARPA[:ARPA.index("-0.9 the tea")])
    with pytest.raises(ValueError, match="cut short"):
        read_arpa(tmp_path / "short.arpa")
    (tmp_path / "binary").write_bytes(b"\x80\x81\xff" * 10)
    with pytest.raises(ValueError, match="not a text ARPA"):
        read_arpa(tmp_path / "binary")


def test_the_checkpoint_carries_the_word_lm(tmp_path, arpa):
    model = tiny_model()
    model.word_language_model = read_arpa(arpa)
    save_checkpoint(model, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt").word_language_model  # weights_only: two plain strings
    assert len(loaded) == 7 and loaded.bigram_count() == 5 and loaded.trigram_count() == 2
    assert loaded.log_prob("the", "cats") == pytest.approx((-0.3 - 2.0) * LN10, rel=1e-3)  # fp16
    assert loaded.log_prob(("<s>", "the"), "ten") == pytest.approx((-0.25 - 3.0) * LN10, rel=1e-3)
    assert loaded.metadata["bigrams"] == 5 and loaded.metadata["trigrams"] == 2
    bigram_only = read_arpa(arpa, prune=2.0)  # no trigram left: a section as bigram checkpoints have it
    assert "context_keys" not in bigram_only.to_dict()
    model.word_language_model = bigram_only
    save_checkpoint(model, tmp_path / "b.pt")
    assert load_model(tmp_path / "b.pt").word_language_model.trigram_count() == 0


def test_gains_move_the_credit_along_the_word_and_settle_it_at_the_end(arpa):
    lm, vocab = read_arpa(arpa), Vocabulary()
    options = DecodeOptions(beam_size=2, word_lm_weight=0.5, word_bonus=1.0)
    after = ("<s>", "the")  # a trigram context: "<s> the cat" is its trigram
    credit = lm.lookahead(after, "ca")
    hyps = [_Hypothesis([], [], [], 0.0, word="ca", history=after, word_credit=credit),
            _Hypothesis([], [], [], 0.0, word="", history=("the", "cat"))]
    gains, credits = _word_lm_gains(lm, hyps, vocab, options)
    t, space, eos = vocab.tokens.index("t"), vocab.tokens.index(" "), vocab.eos_id
    assert credits[0, t] == pytest.approx(-0.1 * LN10)  # the trigram, not the bigram's -0.4
    assert gains[0, t] == pytest.approx(0.5 * (lm.lookahead(after, "cat") - credit))
    word_end = lm.log_prob(after, "ca") - credit  # "ca" is no word: the end of it costs
    assert gains[0, space] == pytest.approx(0.5 * word_end + 1.0)
    assert gains[0, eos] == pytest.approx(0.5 * (word_end + lm.log_prob(("the", "ca"), "</s>")) + 1.0)
    # Between words: a letter starts the next word's look-ahead; the end scores </s> after "the cat".
    assert gains[1, t] == pytest.approx(0.5 * lm.lookahead(("the", "cat"), "t"))
    assert gains[1, eos] == pytest.approx(0.5 * -0.15 * LN10)  # "cat </s>": no "the cat" context
    assert gains[1, space] == -math.inf  # no empty words


def test_beam_search_with_a_word_lm_prefers_its_words(arpa):
    torch.manual_seed(0)
    model = tiny_model()  # untrained: left alone it spells nonsense
    audio = torch.randn(2, 16000) * 0.1
    lengths = torch.tensor([16000, 12000])
    free = decode(model, audio, lengths, DecodeOptions(beam_size=3))
    model.word_language_model = read_arpa(arpa)
    known = {"the", "tea", "ten", "cat", "cats"}
    assert not all(set(r.text.split()) <= known for r in free)  # so the check below can fail
    fused = decode(model, audio, lengths, DecodeOptions(beam_size=3, word_lm_weight=2.0, word_bonus=5.0))
    for result in fused:
        assert result.text.split() and set(result.text.split()) <= known, result.text
    with pytest.raises(ValueError, match="word_lm_weight"):
        DecodeOptions(word_lm_weight=-1)
    model.word_language_model = None
    with pytest.raises(ValueError, match="needs a checkpoint with a word LM"):
        decode(model, audio, lengths, DecodeOptions(beam_size=2, word_lm_weight=0.5))


def test_pocketsphinx_export_agrees_with_pocketsphinx(tmp_path):
    """recipes/synth/export_word_lm.py on a small slice of the model: what read_arpa gets back
    is what pocketsphinx itself answers (skipped where pocketsphinx is not installed)."""
    from pathlib import Path

    from conftest import load_recipe_script

    pocketsphinx = pytest.importorskip("pocketsphinx")
    script = load_recipe_script(Path(__file__).parents[1] / "recipes/synth/export_word_lm.py", "export_word_lm")
    script.main(["--out", str(tmp_path / "lm.arpa"), "--histories", "40", "--followers", "400", "--prune", "0",
                 "--trigram-contexts", "5", "--trigram-followers", "400"])
    lm = read_arpa(tmp_path / "lm.arpa")
    source = pocketsphinx.NGramModel(pocketsphinx.Config(), pocketsphinx.LogMath(script.LOG_BASE),
                                     pocketsphinx.get_model_path("en-us/en-us.lm.bin"))
    to_ln = math.log(script.LOG_BASE)
    assert len(lm) > 70_000 and lm.bigram_count() > 1000
    for history, word in [("the", "first"), ("of", "the"), ("<s>", "the"), ("the", "xylophone"), ("zebra", "the")]:
        assert lm.log_prob(history, word) == pytest.approx(source.prob([word, history]) * to_ln, abs=0.01), (history, word)
    assert lm.trigram_count() > 100
    contexts = [lm.words[int(k) // len(lm)] + " " + lm.words[int(k) % len(lm)] for k in lm.context_keys]
    assert "<s> i" in contexts or "of the" in contexts  # the likeliest pairs
    for context in contexts:
        h2, h1 = context.split()
        for word in ("the", "first", "xylophone", "</s>"):
            expected = source.prob([word, h1, h2]) * to_ln
            assert lm.log_prob((h2, h1), word) == pytest.approx(expected, abs=0.01), (h2, h1, word)
