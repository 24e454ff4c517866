"""Batching: duration buckets within budget, every utterance once per epoch, DDP ranks disjoint."""

import random

import numpy as np
import pytest
import torch

from asr.training.data import DurationBucketSampler, collate
from asr.model.las import LAS, ModelConfig


def _durations(n=200, seed=0):
    rng = random.Random(seed)
    return [rng.uniform(0.5, 12.0) for _ in range(n)]


def test_batches_respect_the_padded_audio_budget_and_cover_everything():
    durations = _durations()
    sampler = DurationBucketSampler(durations, max_batch_seconds=40, seed=1)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(durations)))
    for batch in batches:
        assert len(batch) == 1 or max(durations[i] for i in batch) * len(batch) <= 40


def test_epochs_shuffle_reproducibly_and_resume_skips_done_batches():
    durations = _durations()
    sampler = DurationBucketSampler(durations, 40, seed=1)
    sampler.set_epoch(3)
    epoch3 = list(sampler)
    sampler.set_epoch(4)
    assert list(sampler) != epoch3
    sampler.set_epoch(3, skip_batches=5)
    assert list(sampler) == epoch3[5:]


def test_sortagrad_first_epoch_goes_short_to_long():
    durations = _durations()
    sampler = DurationBucketSampler(durations, 40, seed=1, sortagrad=True)
    longest = [max(durations[i] for i in b) for b in sampler]
    assert longest == sorted(longest)
    sampler.set_epoch(1)
    assert [max(durations[i] for i in b) for b in sampler] != sorted(longest)


def test_ddp_ranks_get_disjoint_equal_shares():
    durations = _durations()
    shares = []
    for rank in range(2):
        sampler = DurationBucketSampler(durations, 40, seed=1, rank=rank, world_size=2)
        shares.append([i for b in sampler for i in b])
        assert len(list(sampler)) == len(sampler)
    assert not set(shares[0]) & set(shares[1])
    assert len(list(DurationBucketSampler(durations, 40, seed=1, rank=0, world_size=2))) == \
        len(list(DurationBucketSampler(durations, 40, seed=1, rank=1, world_size=2)))


def test_too_little_data_for_every_rank_makes_no_batches_rather_than_uneven_ones():
    # One batch cannot be shared by two processes; the trainer turns this 0 into an error.
    sampler = DurationBucketSampler([5.0, 6.0], 40, seed=1, rank=1, world_size=2)
    assert sampler.batches_per_epoch() == 0 and list(sampler) == []
    assert DurationBucketSampler([5.0, 6.0], 40, seed=1).batches_per_epoch() == 1


def test_pure_las_has_no_ctc_term():
    torch.manual_seed(0)
    model = LAS(ModelConfig(encoder_hidden=16, encoder_layers=2, decoder_hidden=16, attention_dim=16,
                            ctc_loss_weight=0.0)).train()
    waves, lengths, targets, target_lengths = collate([(torch.randn(8000) * 0.1, torch.tensor([5, 6, 7])),
                                                       (torch.randn(6000) * 0.1, torch.tensor([8, 9]))])
    out = model(waves, lengths, targets, target_lengths)
    assert "ctc_loss" not in out and torch.equal(out["loss"], out["attention_loss"])
    assert out["weights"].shape[:2] == (2, 4)  # 3 characters + <eos> for the longest target


def test_a_broken_training_file_is_reported_and_stood_in_for_by_the_next(tmp_path, capsys):
    import soundfile as sf

    from asr.audio.io import AudioError
    from asr.training.data import SpeechDataset
    from asr.model.vocab import Vocabulary

    good = tmp_path / "good.wav"
    sf.write(good, np.zeros(1600, np.float32), 16_000)
    (tmp_path / "noise.wav").write_bytes(b"not audio at all")
    rows = [{"audio_filepath": str(good), "text": "first"}, {"audio_filepath": str(tmp_path / "gone.wav"), "text": "lost"},
            {"audio_filepath": str(tmp_path / "noise.wav"), "text": "junk"}, {"audio_filepath": str(good), "text": "fourth"}]
    vocabulary = Vocabulary()
    dataset = SpeechDataset(rows, vocabulary)
    waveform, target = dataset[1]
    assert vocabulary.decode(target.tolist()) == "fourth" and waveform.numel() == 1600
    warnings = capsys.readouterr().err.strip().splitlines()
    assert len(warnings) == 2 and "gone.wav" in warnings[0] and "noise.wav" in warnings[1]
    with pytest.raises(AudioError, match="noise.wav: .*, and the 1 training utterances before it are unreadable"):
        SpeechDataset(rows[1:3], vocabulary)._readable(0, attempts=2)


def _energy_above(samples: np.ndarray, hz: float, rate: int = 16_000) -> float:
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    return float(spectrum[int(hz * samples.size / rate):].sum() / spectrum.sum())


def test_narrowband_augmentation_empties_the_band_above_4khz_for_its_share_of_utterances(tmp_path):
    import soundfile as sf

    from asr.training.data import AugmentConfig, SpeechDataset
    from asr.model.vocab import Vocabulary

    white = np.random.default_rng(0).standard_normal(16_000).astype(np.float32) * 0.1
    path = tmp_path / "white.wav"
    sf.write(path, white, 16_000)
    rows = [{"audio_filepath": str(path), "text": "noise"}] * 200

    def top_band_shares(probability):
        config = AugmentConfig(speed_factors=[1.0], narrowband_probability=probability)
        dataset = SpeechDataset(rows, Vocabulary(), config, seed=1)
        return [_energy_above(dataset[i][0].numpy(), 4_200) for i in range(len(rows))]

    assert min(top_band_shares(0.0)) > 0.4  # white noise: about 7/16 of its energy is above 4.2 kHz
    shares = top_band_shares(0.25)
    narrowed = sum(share < 0.01 for share in shares)
    assert 30 <= narrowed <= 70  # about a quarter of 200
    assert all(share < 0.01 or share > 0.4 for share in shares)  # the others are untouched
