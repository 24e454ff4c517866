"""Decoding functions: greedy vs beam, length bounds, CTC prefix scores, timings from attention."""

import dataclasses
import math

import numpy as np
import pytest
import torch

import asr
from asr.decoding.alignment import character_times, word_timings
from asr.decoding.ctc_prefix import CTCPrefixScorer
from asr.decoding.search import (VTLN_WARP_FACTORS, DecodeOptions, DecodingStopped, beam_search, greedy_decode,
                                 max_decode_length)
from conftest import speak, tiny_model


def _never_ending_model():
    """A random tiny model whose speller can't say <eos>: only the length bound stops it."""
    torch.manual_seed(0)
    model = tiny_model()
    with torch.no_grad():
        model.speller.classify.bias[model.vocabulary.eos_id] = -1e4
    return model


def test_beam_of_one_equals_greedy():
    torch.manual_seed(3)
    model = tiny_model()
    with torch.no_grad():  # make <eos> reachable so both have to agree on when to stop
        model.speller.classify.bias[model.vocabulary.eos_id] = 2.0
    waves = torch.randn(1, 12000) * 0.1
    lengths = torch.tensor([12000])
    greedy = greedy_decode(model, waves, lengths)[0]
    beam = beam_search(model, waves, lengths, DecodeOptions(beam_size=1))[0]
    assert beam.tokens == greedy.tokens
    np.testing.assert_allclose(beam.token_log_probs, greedy.token_log_probs, rtol=1e-5)
    np.testing.assert_allclose(beam.attention, greedy.attention, rtol=1e-5)


@pytest.mark.parametrize("options", [DecodeOptions(), DecodeOptions(beam_size=3),
                                     DecodeOptions(beam_size=2, ctc_weight=0.5)])
def test_decoding_pure_noise_stops_within_the_length_bound(options):
    model = _never_ending_model()
    rng = np.random.default_rng(0)
    noise = torch.from_numpy(rng.standard_normal((2, 8000)).astype(np.float32))
    lengths = torch.tensor([8000, 5000])
    results = asr.decode(model, noise, lengths, options)
    for result, n in zip(results, lengths.tolist()):
        bound = max_decode_length(n, 16000, options)
        assert len(result.tokens) <= bound
        assert result.attention.shape[0] == len(result.tokens)


def test_with_ctc_the_prefix_scores_decide_where_the_text_ends():
    """Attention keeps <eos> under its gate (it would spell on to the length bound, as it does
    past the last word of a short clip); CTC hears nothing but blanks, so the text ends at once."""
    torch.manual_seed(0)
    model = tiny_model()
    vocab = model.vocabulary
    letter = vocab.tokens.index("a")
    with torch.no_grad():
        model.speller.classify.weight.zero_()
        model.speller.classify.bias.zero_()
        model.speller.classify.bias[letter] = 8.0
        model.speller.classify.bias[vocab.eos_id] = 5.0  # log p(eos) about -3: under 1.5 x log p("a")
        model.ctc_head.weight.zero_()
        model.ctc_head.bias.zero_()
        model.ctc_head.bias[vocab.blank_id] = 20.0
    waves, lengths = torch.randn(1, 16000) * 0.1, torch.tensor([16000])
    attention_only = beam_search(model, waves, lengths, DecodeOptions(beam_size=2))[0]
    assert attention_only.text == "a" * max_decode_length(16000, 16000, DecodeOptions())
    with_ctc = beam_search(model, waves, lengths, DecodeOptions(beam_size=2, ctc_weight=0.3))[0]
    assert with_ctc.text == ""


def test_length_bound_is_proportional_to_duration():
    options = DecodeOptions(max_chars_per_second=20)
    assert max_decode_length(16000, 16000, options) < max_decode_length(160000, 16000, options)
    assert max_decode_length(160000, 16000, options) <= 20 * 10 + 2


def test_greedy_batch_equals_each_utterance_alone():
    torch.manual_seed(1)
    model = tiny_model()
    with torch.no_grad():
        model.speller.classify.bias[model.vocabulary.eos_id] = 1.0
    waves = torch.randn(2, 14000) * 0.1
    lengths = torch.tensor([14000, 9000])
    batch = greedy_decode(model, waves, lengths)
    alone = greedy_decode(model, waves[1:, :9000], lengths[1:])[0]
    assert batch[1].tokens == alone.tokens
    np.testing.assert_allclose(batch[1].attention, alone.attention, rtol=1e-4, atol=1e-6)


def test_ctc_prefix_score_of_a_whole_sequence_is_the_ctc_likelihood():
    """psi(g + <eos>) must equal log p_ctc(g | x), which torch's ctc_loss computes independently."""
    rng = np.random.default_rng(0)
    frames, vocab, blank, eos = 12, 6, 0, 5
    log_probs = torch.log_softmax(torch.from_numpy(rng.standard_normal((frames, vocab))), -1)
    scorer = CTCPrefixScorer(log_probs.numpy(), blank, eos)
    state, last, empty = scorer.initial_state()[None], np.array([-1]), np.array([True])
    sequence = [2, 2, 3, 1]
    for token in sequence:
        _, r = scorer.extend(state, last, empty, np.array([[token]]))
        state, last, empty = r[:, 0], np.array([token]), np.array([False])
    psi_end, _ = scorer.extend(state, last, empty, np.array([[eos]]))
    expected = -torch.nn.functional.ctc_loss(log_probs[:, None], torch.tensor([sequence]), torch.tensor([frames]),
                                             torch.tensor([len(sequence)]), blank=blank, reduction="sum")
    assert math.isclose(float(psi_end[0, 0]), float(expected), rel_tol=1e-6)


def test_prefix_probabilities_only_fall_as_prefixes_grow():
    rng = np.random.default_rng(1)
    log_probs = torch.log_softmax(torch.from_numpy(rng.standard_normal((10, 5))), -1).numpy()
    scorer = CTCPrefixScorer(log_probs, 0, 4)
    psi1, r1 = scorer.extend(scorer.initial_state()[None], np.array([-1]), np.array([True]), np.array([[1, 2, 3]]))
    psi2, _ = scorer.extend(r1[:, 0], np.array([1]), np.array([False]), np.array([[1, 2, 3]]))
    assert (psi2 <= psi1[0, 0] + 1e-9).all()


def test_character_times_are_monotonic_and_inside_the_audio():
    attention = np.zeros((4, 20))
    for u, frame in enumerate([3, 2, 9, 15]):  # the second peak goes backwards: must be repaired
        attention[u, frame] = 1.0
    starts, ends = character_times(attention, frame_seconds=0.04, duration=0.8)
    assert np.all(np.diff(starts) >= 0) and np.all(ends >= starts)
    assert starts[0] >= 0 and ends[-1] <= 0.8
    words = word_timings("a bc", starts, ends, np.log(np.array([0.9, 0.8, 0.5, 0.5])))
    assert [w.word for w in words] == ["a", "bc"]
    assert words[0].end <= words[1].start
    assert math.isclose(words[1].confidence, 0.5)


def test_one_stray_row_does_not_drag_the_characters_after_it():
    attention = np.full((6, 50), 1e-4)
    for u, frame in enumerate([5, 8, 45, 14, 17, 20]):  # the third row glances at the end of the audio
        attention[u, frame] = 1.0
    starts, ends = character_times(attention, frame_seconds=0.02, duration=1.0)
    centres = (starts + ends) / 2
    assert np.all(np.diff(starts) >= 0) and np.all(ends >= starts)
    assert centres[3:] == pytest.approx((np.array([14, 17, 20]) + 0.5) * 0.02, abs=0.02)
    assert centres[2] <= centres[3]  # the stray character is placed between its neighbours


def test_a_word_after_a_pause_starts_at_its_first_letter_not_halfway_into_the_pause():
    attention = np.full((6, 200), 1e-4)
    for u, frame in enumerate([10, 14, 18, 20, 120, 124]):  # "abc", a space, a 2-s pause, "de"
        attention[u, frame] = 1.0
    starts, ends = character_times(attention, frame_seconds=0.02, duration=4.0)
    first, second = word_timings("abc de", starts, ends, np.zeros(6))
    letter = 4 * 0.02  # the median distance between characters
    assert second.start == pytest.approx(120.5 * 0.02 - letter, abs=1e-6)  # not back at 1.41 s
    assert first.end <= 20.5 * 0.02 and second.end <= 124.5 * 0.02 + letter


def test_transcribe_rejects_unknown_options():
    with pytest.raises(TypeError, match="unknown decoding option"):
        tiny_model().transcribe(np.zeros(1600, dtype=np.float32), beam=3)


@pytest.mark.parametrize("options", [DecodeOptions(), DecodeOptions(beam_size=3, ctc_weight=0.3)])
def test_vtln_keeps_each_utterances_best_scoring_warp(options):
    torch.manual_seed(5)
    model = tiny_model()
    with torch.no_grad():
        model.speller.classify.bias[model.vocabulary.eos_id] = 1.5
    waves = torch.randn(3, 12000) * 0.1
    lengths = torch.tensor([12000, 9000, 6000])
    factors = (0.85, 1.0, 1.15)
    chosen = asr.decode(model, waves, lengths, dataclasses.replace(options, warp_factors=factors))
    per_warp = {w: asr.decode(model, waves, lengths, dataclasses.replace(options, warp_factors=(w,))) for w in factors}
    greedy = options.beam_size == 1

    def per_character(result):  # greedy scores are totals; beam search's are already per character
        return result.score / (len(result.tokens) + 1) if greedy else result.score

    for i, result in enumerate(chosen):
        scores = {w: per_character(per_warp[w][i]) for w in factors}
        assert result.warp == max(scores, key=scores.get)
        assert result.tokens == per_warp[result.warp][i].tokens
    # The warps do change what the model hears: not every utterance decodes the same at every factor.
    assert any(per_warp[0.85][i].tokens != per_warp[1.15][i].tokens or
               per_warp[0.85][i].score != per_warp[1.15][i].score for i in range(3))


def test_a_warp_of_one_is_the_audio_as_it_is():
    torch.manual_seed(6)
    model = tiny_model()
    waves, lengths = torch.randn(1, 10000) * 0.1, torch.tensor([10000])
    plain = asr.decode(model, waves, lengths)[0]
    unwarped = asr.decode(model, waves, lengths, DecodeOptions(warp_factors=(1.0,)))[0]
    assert unwarped.tokens == plain.tokens and unwarped.warp == plain.warp == 1.0
    np.testing.assert_allclose(unwarped.attention, plain.attention)


@pytest.mark.parametrize("factors", [(0.5,), (1.0, 1.4), (0.0,), 0.9, ("high",)])
def test_warp_factors_out_of_range_are_refused(factors):
    with pytest.raises(ValueError, match="warp_factors"):
        DecodeOptions(warp_factors=factors)


@pytest.mark.parametrize("window", [(1.0,), (1.0, 2.0, 3.0), (-0.5, 2.0), (1.0, math.inf), ("wide", 1.0)])
def test_attention_windows_that_are_not_two_seconds_are_refused(window):
    with pytest.raises(ValueError, match="attention_window"):
        DecodeOptions(attention_window=window)


@pytest.mark.parametrize("options", [DecodeOptions(attention_window=(0.04, 0.12)),
                                     DecodeOptions(beam_size=3, ctc_weight=0.5, attention_window=(0.04, 0.12))])
def test_with_a_window_each_character_attends_only_near_the_last_ones_peak(options):
    model = _never_ending_model()  # spells to the length bound: many steps to check
    waves, lengths = torch.randn(1, 32000) * 0.1, torch.tensor([32000])
    result = asr.decode(model, waves, lengths, options)[0]
    back, ahead = (round(s / model.frame_seconds) for s in options.attention_window)
    peaks = [0] + result.attention.argmax(axis=1).tolist()
    for row, previous_peak in zip(result.attention, peaks):
        inside = np.zeros(row.size, dtype=bool)
        inside[max(previous_peak - back, 0):previous_peak + ahead + 1] = True
        assert np.all(row[~inside] == 0) and row[inside].sum() == pytest.approx(1.0, abs=1e-4)
    assert max(peaks) <= ahead * len(result.tokens)  # it moves at most `ahead` frames per character
    unwindowed = asr.decode(model, waves, lengths, dataclasses.replace(options, attention_window=()))[0]
    assert (unwindowed.attention > 0).sum(axis=1).min() > back + ahead + 1  # without it, every frame gets weight


@pytest.mark.parametrize("seconds", [-0.5, math.nan, 11.0])
def test_encoder_context_out_of_range_is_refused(seconds):
    with pytest.raises(ValueError, match="encoder_context"):
        DecodeOptions(encoder_context=seconds)


def test_audio_decoded_whole_gets_the_encoder_context_and_warps_and_pieces_of_long_audio_do_not(tmp_path,
                                                                                                monkeypatch):
    model = tiny_model()
    heard = []  # (samples, warp, context) of every call to the encoder
    encode = model.encode

    def spy(waveforms, lengths, warp=1.0, context=0.0):
        heard.extend((int(n), warp, context) for n in lengths)
        return encode(waveforms, lengths, warp, context)

    monkeypatch.setattr(model, "encode", spy)
    options = DecodeOptions(encoder_context=2.0, warp_factors=(0.9, 1.0, 1.1))
    phrase = speak("open the door", tmp_path / "phrase.wav")
    model.transcribe(phrase, options=options)
    assert heard == [(phrase.size, 0.9, 2.0), (phrase.size, 1.0, 2.0), (phrase.size, 1.1, 2.0)]
    heard.clear()
    pause = np.zeros(16000, dtype=np.float32)
    long_audio = np.concatenate([pause, phrase] * 8 + [pause])  # over 10 s: cut at its pauses
    result = model.transcribe(long_audio, options=options)
    assert len(result.segments) >= 2 and len(heard) == len(result.segments)  # each piece decoded once
    assert all(warp == 1.0 and context == 0.0 for _, warp, context in heard)
    heard.clear()
    model.transcribe(phrase, options=dataclasses.replace(options, encoder_context=0.0, warp_factors=()))
    assert heard == [(phrase.size, 1.0, 0.0)]


@pytest.mark.parametrize("seconds", [-0.5, math.nan, 11.0])
def test_piece_context_out_of_range_is_refused(seconds):
    with pytest.raises(ValueError, match="piece_context"):
        DecodeOptions(piece_context=seconds)


@pytest.mark.parametrize("options", [DecodeOptions(), DecodeOptions(beam_size=3, ctc_weight=0.5)])
def test_a_listener_without_a_pretrained_encoder_decodes_inside_the_margins_alone(options):
    torch.manual_seed(5)
    model = tiny_model()
    with torch.no_grad():
        model.speller.classify.bias[model.vocabulary.eos_id] = 1.0
    step = model.margin_step
    recording = torch.randn(2, 60 * step) * 0.1
    inner = [(10 * step, 30 * step), (0, 45 * step)]  # (start, end) of what is decoded in each row
    margins = torch.tensor([[start, 60 * step - end] for start, end in inner])
    with_margins = asr.decode(model, recording, torch.tensor([60 * step] * 2), options, margins=margins)
    for row, ((start, end), result) in enumerate(zip(inner, with_margins)):
        alone = asr.decode(model, recording[row:row + 1, start:end].clone(), torch.tensor([end - start]), options)[0]
        assert result.tokens == alone.tokens and result.duration == alone.duration == (end - start) / 16000
        np.testing.assert_allclose(result.attention, alone.attention, atol=1e-5)


def test_pieces_are_widened_by_the_audio_around_them_up_to_the_recordings_ends():
    from asr.decoding.transcribe import widened

    ranges = [(1000, 40_000), (60_000, 90_000), (150_000, 159_000)]
    heard, margins = widened(ranges, 160_000, 1.0, 320)
    assert margins == [(960, 16_000), (16_000, 16_000), (16_000, 960)]  # whole steps of 320, within the audio
    assert heard == [(40, 56_000), (44_000, 106_000), (134_000, 159_960)]
    _, margins = widened([(100_000, 570_000)], 1_000_000, 1.0, 320, longest=480_000)  # 29.4 s of a 30-s window
    assert margins == [(4800, 4800)]


def test_vtln_factors_are_valid_and_include_the_unwarped_audio():
    assert 1.0 in VTLN_WARP_FACTORS
    DecodeOptions(warp_factors=VTLN_WARP_FACTORS)


class StopAfter:
    """A ``stop`` callable that turns true on its ``calls``-th call, counting every call."""

    def __init__(self, calls: int):
        self.calls, self.count = calls, 0

    def __call__(self) -> bool:
        self.count += 1
        return self.count >= self.calls


@pytest.mark.parametrize("options", [DecodeOptions(), DecodeOptions(beam_size=3, ctc_weight=0.5)])
def test_a_search_is_stopped_at_the_step_its_stop_turns_true(options):
    model = _never_ending_model()  # it would spell on to the length bound
    waves, lengths = torch.randn(1, 16000) * 0.1, torch.tensor([16000])
    stop = StopAfter(5)
    with pytest.raises(DecodingStopped):
        asr.decode(model, waves, lengths, options, stop=stop)
    assert stop.count == 5  # checked before encoding and at each step, and no further
    never = StopAfter(10**9)
    kept = asr.decode(model, waves, lengths, options, stop=never)[0]
    assert kept.tokens == asr.decode(model, waves, lengths, options)[0].tokens  # a stop that stays false changes nothing
    assert never.count >= len(kept.tokens)


def test_transcribe_passes_stop_down_to_the_search(tmp_path):
    model = _never_ending_model()
    audio = speak("open the door", tmp_path / "speech.wav")
    assert model.transcribe(audio, options=DecodeOptions(), stop=lambda: False).text
    with pytest.raises(DecodingStopped):
        model.transcribe(audio, options=DecodeOptions(), stop=lambda: True)
