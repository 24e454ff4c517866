"""The punctuator: it learns marks and capitals, keeps the words, and travels in the checkpoint."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import torch
from conftest import load_recipe_script, tiny_model

import asr
from asr.model.checkpoint import model_to_dict, read_checkpoint, save_atomic
from asr.model.punctuator import CASES, MARKS, Punctuator, PunctuatorConfig, apply_case, restore
from asr.training.punctuator import (PunctuationTrainingConfig, bundle, label_text, main, scores,
                                   simulate_pauses, split_documents, train_punctuator)

TINY = PunctuatorConfig(buckets=512, word_dim=16, char_dim=8, char_channels=16, hidden=32, dropout=0.0)
DOCUMENTS = ["Hello, Anna. How are you?", "I live in Paris, and I like it.", "Set a timer for ten minutes!",
             "What time is it? It's late."]


def _words(text: str) -> list[str]:
    return label_text(text).words


def test_label_text_puts_words_in_spoken_form_with_case_and_mark():
    labelled = label_text('"Really?!" she said, "NASA\'s launch is at 7:45; call McDonald\'s."')
    written = [(w, CASES[c], MARKS[m]) for w, c, m in zip(labelled.words, labelled.cases, labelled.marks)]
    assert written == [("really", "title", "?"), ("she", "lower", ""), ("said", "lower", ","),
                       ("nasa's", "upper", ""), ("launch", "lower", ""), ("is", "lower", ""), ("at", "lower", ""),
                       ("seven", "lower", ""), ("forty", "lower", ""), ("five", "lower", ";"),
                       ("call", "lower", ""), ("mcdonald's", "title", ".")]


def test_apply_case_writes_acronyms_with_their_endings_and_known_mixed_forms():
    assert apply_case("nasa's", "upper") == "NASA's"
    assert apply_case("i'm", "title") == "I'm"
    assert apply_case("mcdonald's", "title", {"mcdonald's": "McDonald's"}) == "McDonald's"
    assert apply_case("paris", "lower") == "paris"


def test_a_tiny_punctuator_learns_a_few_sentences_to_the_right_marks():
    punctuator = train_punctuator(DOCUMENTS * 8, DOCUMENTS, TINY,
                                  PunctuationTrainingConfig(epochs=60, batch_size=16, peak_lr=1e-2), log=lambda _: None)
    assert punctuator.metadata["heldout"]["overall"]["f1"] == 1.0
    for document in DOCUMENTS:
        words = _words(document)
        assert " ".join(restore(punctuator, words, [0.0] * len(words))) == document


def test_restore_keeps_the_word_count_and_each_words_letters():
    punctuator = Punctuator(TINY).eval()  # untrained: any case and any mark
    rng = random.Random(3)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz'") for _ in range(rng.randint(1, 20)))
             for _ in range(200)]
    written = restore(punctuator, words, [rng.uniform(0, 2) for _ in words])
    assert len(written) == len(words)
    for word, out in zip(words, written):
        assert re.fullmatch(r"[A-Za-z']+[.,?!:;]?", out)
        assert out.rstrip(".,?!:;").lower() == word
    assert restore(punctuator, [], []) == []
    with pytest.raises(ValueError, match="2 words but 1 pauses"):
        restore(punctuator, ["hello", "there"], [0.0])


def test_padding_does_not_change_a_prediction():
    """A sequence predicts the same alone and in a batch with longer ones (packed GRU)."""
    torch.manual_seed(0)
    punctuator = Punctuator(TINY).eval()
    short, long = _words("Hello there, Anna."), _words("I live in Paris, and I like it very much indeed.")
    alone = punctuator.predict([short], [[0.1] * len(short)])
    batched = punctuator.predict([short, long], [[0.1] * len(short), [0.0] * len(long)])
    assert batched[0] == alone[0]


def test_the_checkpoint_section_round_trips(tmp_path):
    torch.manual_seed(1)
    model = tiny_model()
    model.punctuator = Punctuator(TINY, forms={"iphone": "iPhone"})
    model.punctuator.metadata = {"documents": 4}
    save_atomic(model_to_dict(model), tmp_path / "with.pt")
    assert not any(k.startswith("punctuator.") for k in read_checkpoint(tmp_path / "with.pt")["state_dict"])
    reloaded = asr.load_model(tmp_path / "with.pt")  # weights_only=True
    assert reloaded.punctuator.forms == {"iphone": "iPhone"} and reloaded.punctuator.metadata == {"documents": 4}
    for name, value in model.punctuator.state_dict().items():  # stored in fp16
        assert torch.equal(reloaded.punctuator.state_dict()[name], value.half().float())
    words = _words("I bought an iPhone in Paris. Did you?")
    pauses = [0.05, 0.0, 0.1, 0.2, 0.0, 0.6, 0.0, 0.0]
    model.punctuator.load_state_dict(reloaded.punctuator.state_dict())
    assert restore(reloaded.punctuator, words, pauses) == restore(model.punctuator, words, pauses)


def test_a_checkpoint_without_the_section_still_loads(tmp_path):
    save_atomic(model_to_dict(tiny_model()), tmp_path / "without.pt")
    assert "punctuation" not in read_checkpoint(tmp_path / "without.pt")
    assert asr.load_model(tmp_path / "without.pt").punctuator is None


def test_bundle_adds_the_section_and_copies_every_other_one(tmp_path):
    model = tiny_model()
    model.metadata = {"step": 3}
    save_atomic(model_to_dict(model, half=True), tmp_path / "in.pt")
    bundle(tmp_path / "in.pt", Punctuator(TINY), tmp_path / "out.pt")
    before, after = read_checkpoint(tmp_path / "in.pt"), read_checkpoint(tmp_path / "out.pt")
    assert set(after) == set(before) | {"punctuation"}
    assert after["metadata"] == before["metadata"] and after["vocabulary"] == before["vocabulary"]
    for name, tensor in before["state_dict"].items():
        assert after["state_dict"][name].dtype == tensor.dtype and torch.equal(after["state_dict"][name], tensor)


def test_held_out_documents_are_chosen_by_their_text():
    documents = [f"Sentence number {i}." for i in range(400)]
    train, heldout = split_documents(documents)
    assert 5 < len(heldout) < 40 and not set(train) & set(heldout)
    assert split_documents(list(reversed(documents)))[1] == list(reversed(heldout))


def test_simulated_pauses_are_longer_after_sentences_than_inside_them():
    rng = random.Random(0)
    marks = [MARKS.index(m) for m in ["", "", ".", "", ",", "", "?"]] * 30
    ends, inside = [], []
    for _ in range(200):
        pauses = simulate_pauses(marks, rng)
        ends += [p for p, m in zip(pauses[:-1], marks) if MARKS[m] == "."]
        inside += [p for p, m in zip(pauses[:-1], marks) if not MARKS[m]]
    assert sum(ends) / len(ends) > 2 * sum(inside) / len(inside)
    assert min(ends + inside) >= 0.0


def test_scores_count_a_mark_only_at_its_word():
    references = [(1, 0), (0, 2), (0, 0), (0, 1)]  # Hello there, you.
    predictions = [(1, 2), (0, 0), (0, 0), (0, 1)]  # Hello, there you.
    result = scores(references, predictions)
    assert result[","]["f1"] == 0.0 and result["."]["f1"] == 1.0
    assert result["overall"]["precision"] == 0.5 and result["overall"]["recall"] == 0.5
    assert result["case_accuracy"] == 1.0 and result["capitals_accuracy"] == 1.0


def test_the_command_says_one_line_for_a_missing_text_file(tmp_path, capsys):
    save_atomic(model_to_dict(tiny_model()), tmp_path / "in.pt")
    status = main(["--text", str(tmp_path / "nope.txt"), "--checkpoint", str(tmp_path / "in.pt"),
                   "--out", str(tmp_path / "out.pt")])
    assert status == 2
    assert capsys.readouterr().err.strip() == f"train_punctuation: {tmp_path / 'nope.txt'}: no such text file"
    assert not (tmp_path / "out.pt").exists()


def test_the_benchmark_scores_marks_on_the_words_an_edit_distance_alignment_matches():
    bench = load_recipe_script(Path(__file__).resolve().parents[1] / "bench" / "punctuation.py", "bench_punctuation")
    assert bench.align("the cat sat down".split(), "a cat sat down here".split()) == [(1, 1), (2, 2), (3, 3)]
    assert bench.align([], ["a"]) == [] and bench.align(["a"], ["a"]) == [(0, 0)]
    assert bench.written_labels("Paris,") == (CASES.index("title"), MARKS.index(","))
    assert bench.written_labels("NASA's?") == (CASES.index("upper"), MARKS.index("?"))
    assert bench.written_labels("then") == (CASES.index("lower"), 0)


def test_the_first_word_and_a_word_after_a_sentence_end_get_capitals_even_where_the_case_head_says_lower():
    punctuator = Punctuator(TINY).eval()
    with torch.no_grad():
        for head, wanted in ((punctuator.case_head, CASES.index("lower")), (punctuator.mark_head, MARKS.index("."))):
            head.weight.zero_()
            head.bias.zero_()
            head.bias[wanted] = 10.0
    assert restore(punctuator, ["yes", "no", "maybe"], [0.0, 0.0, 0.0]) == ["Yes.", "No.", "Maybe."]
    assert restore(punctuator, ["two"], [0.0]) == ["Two."]


def test_lm_from_carries_the_punctuator_to_an_acoustic_checkpoint_without_one(tmp_path):
    from asr.cli import train_lm
    from asr.model.char_lm import CharLanguageModel, LanguageModelConfig

    source = tiny_model()
    source.language_model = CharLanguageModel(LanguageModelConfig(hidden=16)).eval()
    source.punctuator = Punctuator(TINY, forms={"iphone": "iPhone"}).eval()
    save_atomic(model_to_dict(source), tmp_path / "source.pt")
    save_atomic(model_to_dict(tiny_model()), tmp_path / "acoustic.pt")
    parser = __import__("argparse").ArgumentParser()
    train_lm.add_arguments(parser)
    args = parser.parse_args(["--lm-from", str(tmp_path / "source.pt"), "--checkpoint", str(tmp_path / "acoustic.pt"),
                              "--out", str(tmp_path / "out.pt")])
    assert train_lm.run(args) == 0
    out = asr.load_model(tmp_path / "out.pt")
    assert out.language_model is not None and out.punctuator is not None
    assert out.punctuator.forms == {"iphone": "iPhone"}
    for name, tensor in source.punctuator.state_dict().items():  # the section stores fp16
        assert torch.equal(out.punctuator.state_dict()[name], tensor.half().to(tensor.dtype)), name
