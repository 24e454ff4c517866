"""The LAS model: front end -> listener -> (attention + speller), plus a CTC head.

Two listeners: ``blstm``, our pyramidal BLSTM on normalised log-mel, trained from
scratch; or ``whisper-tiny`` / ``whisper-base``, Whisper's pretrained encoder on its own
log-mel, frozen, under a trainable adapter (:class:`asr.model.listener.PretrainedListener`).

The model exposes the pieces decoding needs, ``encode()`` and the speller's
``step()``, and the training loss.  Decoding algorithms are functions in
:mod:`asr.decoding.search`; ``model.transcribe`` is a convenience that calls
:func:`asr.decoding.transcribe.transcribe`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from asr.model.attention import build_attention
from asr.model.features import FeatureConfig, FrontEnd, SpecAugment
from asr.model.char_lm import CharLanguageModel
from asr.model.lexicon import Lexicon
from asr.model.punctuator import Punctuator
from asr.model.word_lm import WordLanguageModel
from asr.model.listener import Listener, PretrainedListener
from asr.model.speller import Speller
from asr.model.vocab import Vocabulary


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyperparameters; saved in every checkpoint. Defaults are ``recipes/synth/small.yaml``'s,
    except ``ctc_loss_weight`` (small.yaml: 0.5)."""

    vocab_size: int = len(Vocabulary())
    # Listener: blstm (from scratch) | whisper-tiny | whisper-base (frozen, under a BLSTM adapter)
    listener: str = "blstm"
    conv_channels: int = 32  # blstm only
    encoder_hidden: int = 128  # per direction: the BLSTM, or the adapter over Whisper
    encoder_layers: int = 3
    reduction: int = 4  # feature frames per encoder frame: 4 -> 40 ms, 8 -> 80 ms
    conv_reduction: int = 2  # of which the conv front end does 2 or 4 (Whisper's: 2); pyramid steps do the rest
    # Whisper only: run its encoder on each segment padded to its 30-second window (as it was
    # trained) instead of on the true length.
    pad_to_window: bool = False
    # Attention
    attention: str = "location"  # dot | additive | location | multihead
    attention_dim: int = 128
    num_heads: int = 4
    location_channels: int = 10
    location_kernel: int = 31
    # Speller
    embedding_dim: int = 64
    decoder_hidden: int = 192
    decoder_layers: int = 1
    dropout: float = 0.1
    # Training objective: loss = ctc_loss_weight * CTC + (1 - ctc_loss_weight) * attention; 0 is
    # pure LAS.  (Decoding's DecodeOptions.ctc_weight is another thing: the weight of CTC scores in search.)
    ctc_loss_weight: float = 0.3
    label_smoothing: float = 0.1
    features: FeatureConfig = field(default_factory=FeatureConfig)


class LAS(nn.Module):
    def __init__(self, config: ModelConfig, vocabulary: Vocabulary | None = None):
        super().__init__()
        self.config = config
        self.vocabulary = vocabulary or Vocabulary()
        if len(self.vocabulary) != config.vocab_size:
            raise ValueError(f"vocabulary has {len(self.vocabulary)} tokens, config says {config.vocab_size}")
        if config.listener == "blstm":
            self.frontend = FrontEnd(config.features)
            self.listener = Listener(config.features.n_mels, config.conv_channels, config.encoder_hidden,
                                     config.encoder_layers, config.reduction, config.dropout, config.conv_reduction)
        else:
            from asr.model.whisper import HOP_LENGTH, N_MELS, WhisperLogMel

            f = config.features
            if (f.n_mels, f.hop_length, config.conv_reduction) != (N_MELS, HOP_LENGTH, 2):
                raise ValueError(f"a Whisper listener needs n_mels {N_MELS}, hop_length {HOP_LENGTH} and "
                                 f"conv_reduction 2, got {f.n_mels}, {f.hop_length}, {config.conv_reduction}")
            if config.reduction not in (2, 4, 8):
                raise ValueError(f"a Whisper listener's reduction is 2, 4 or 8, got {config.reduction}")
            self.frontend = WhisperLogMel()
            # The feature config's SpecAugment settings mask the encoder's states, not the log-mel:
            # training sees only the (cached) states.
            self.listener = PretrainedListener(config.listener, config.encoder_hidden, config.encoder_layers,
                                               int(math.log2(config.reduction // 2)), config.dropout,
                                               SpecAugment(config.features), config.pad_to_window)
        encoder_dim = self.listener.output_dim
        attention = build_attention(config.attention, config.decoder_hidden, encoder_dim, config.attention_dim,
                                    config.num_heads, config.location_channels, config.location_kernel)
        self.speller = Speller(config.vocab_size, config.embedding_dim, config.decoder_hidden,
                               config.decoder_layers, encoder_dim, attention, config.dropout)
        self.ctc_head = nn.Linear(encoder_dim, config.vocab_size)
        self.metadata: dict = {}  # training provenance, saved with the checkpoint
        # Optional character LM for shallow fusion in beam search (asr.model.char_lm); trained on
        # text after the acoustic model, so it is never part of the training loss.
        self.language_model: CharLanguageModel | None = None
        # Optional word list that beam search prefers (asr.model.lexicon; DecodeOptions.oov_penalty).
        self.lexicon: Lexicon | None = None
        # Optional word n-gram LM fused through its look-ahead (asr.model.word_lm; DecodeOptions.word_lm_weight).
        self.word_language_model: WordLanguageModel | None = None
        # Optional capitals and punctuation for the decoded words (asr.model.punctuator.restore); a text
        # model with its own checkpoint section, like the language model.
        self.punctuator: Punctuator | None = None

    @property
    def device(self) -> torch.device:
        return self.ctc_head.weight.device

    def num_parameters(self, language_model: bool = False) -> int:
        """Parameters of the acoustic model (front end to CTC head), plus the LM's with ``language_model``."""
        return sum(p.numel() for name, p in self.named_parameters()
                   if not name.startswith("punctuator.") and (language_model or not name.startswith("language_model.")))

    @property
    def frame_seconds(self) -> float:
        """Seconds per encoder frame (what one column of an attention matrix spans)."""
        c = self.config.features
        return c.hop_length / c.sample_rate * self.config.reduction

    def encode(self, waveforms: torch.Tensor, lengths: torch.Tensor, warp: float = 1.0, context: float = 0.0,
               margins: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Waveforms (B, samples) at 16 kHz -> encoder states (B, T, D) and their lengths (B,).

        ``warp`` != 1 warps the spectrum's frequency axis first (``asr.audio.augment.vtlp_warp``).
        ``context``: seconds of silence a pretrained encoder hears before and after each waveform
        (its states are dropped again); the BLSTM listener has no use for it.
        ``margins``: (B, 2) samples at the start and end of each waveform that are only its
        surroundings (the recording around a piece cut from it), those before multiples of
        :attr:`margin_step`, so that the states kept stay on the encoder's grid.
        A pretrained encoder hears them and their states are dropped again; another listener
        never sees them.  The states returned are those of the rest, ``lengths - margins.sum(1)``.
        """
        if margins is not None and not bool(margins.any()):
            margins = None
        if margins is not None:
            if bool((margins[:, 0] % self.margin_step).any()) or bool((margins < 0).any()):
                raise ValueError(f"margins must be 0 or more samples, those before multiples of {self.margin_step}, "
                                 f"got {margins.tolist()}")
            if not self.pretrained:  # the BLSTM hears only what it decodes
                inner = lengths - margins.sum(1)
                waveforms = torch.stack([F.pad(w[int(m):], (0, int(m)))
                                         for w, m in zip(waveforms, margins[:, 0])])
                return self.encode(waveforms, inner, warp, context)
        feats, frame_lengths = self.frontend(waveforms, lengths, warp)  # (B, frames, n_mels)
        if not self.pretrained:
            return self.listener(feats, frame_lengths)
        frames = round(context * self.config.features.sample_rate / self.config.features.hop_length)
        keep = None
        if margins is not None:
            from asr.model.whisper import HOP_LENGTH, num_mel_frames  # a pretrained listener hears Whisper's log-mel

            keep = (margins[:, 0] // HOP_LENGTH, num_mel_frames(lengths - margins.sum(1)))
        return self.listener(feats, frame_lengths, frames, keep=keep)

    @property
    def margin_step(self) -> int:
        """Samples per pretrained encoder state (20 ms): the unit of :meth:`encode`'s margins before."""
        return self.config.features.hop_length * 2

    @property
    def pretrained(self) -> bool:
        """Whether the listener is a frozen pretrained encoder (whose states can be cached)."""
        return isinstance(self.listener, PretrainedListener)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
                target_lengths: torch.Tensor, sampling_probability: float = 0.0) -> dict[str, torch.Tensor]:
        """The joint training loss.

        Args:
            inputs: waveforms (B, samples), or for a pretrained listener its cached states
                (B, frames, width) (:mod:`asr.training.encoder_states`); lengths: (B,) samples or frames.
            targets: (B, U) character ids without ``<sos>``/``<eos>``, padded with anything.
            target_lengths: (B,)
        Returns:
            ``loss`` (to minimise), ``attention_loss``, ``ctc_loss`` and ``weights`` (B, U+1, T).
        """
        if inputs.dim() == 3:
            h, h_lengths = self.listener.adapt(inputs, lengths)
        else:
            h, h_lengths = self.encode(inputs, lengths)
        mask = torch.arange(h.shape[1], device=h.device)[None, :] < h_lengths[:, None]
        vocab = self.vocabulary
        batch, max_len = targets.shape
        positions = torch.arange(max_len + 1, device=targets.device)[None, :]
        sos = targets.new_full((batch, 1), vocab.sos_id)
        inputs = torch.cat([sos, targets], dim=1)  # (B, U+1): <sos> y1 .. yU
        outputs = torch.cat([targets, targets.new_zeros(batch, 1)], dim=1)
        outputs = outputs.scatter(1, target_lengths[:, None], vocab.eos_id)  # y1 .. yU <eos>
        outputs = outputs.masked_fill(positions > target_lengths[:, None], -100)  # ignore padding
        inputs = inputs.masked_fill(positions > target_lengths[:, None], vocab.eos_id)

        logits, weights = self.speller(h, mask, inputs, sampling_probability)  # (B, U+1, V), (B, U+1, T)
        attention_loss = F.cross_entropy(logits.transpose(1, 2), outputs, ignore_index=-100,
                                         label_smoothing=self.config.label_smoothing)
        losses = {"attention_loss": attention_loss, "weights": weights}
        ctc_weight = self.config.ctc_loss_weight
        if ctc_weight > 0:
            log_probs = F.log_softmax(self.ctc_head(h), dim=-1).transpose(0, 1)  # (T, B, V)
            ctc_targets = targets.masked_fill(positions[:, :max_len] >= target_lengths[:, None], 0)
            ctc_loss = F.ctc_loss(log_probs.float(), ctc_targets, h_lengths, target_lengths,
                                  blank=vocab.blank_id, reduction="mean", zero_infinity=True)
            losses["ctc_loss"] = ctc_loss
            losses["loss"] = ctc_weight * ctc_loss + (1 - ctc_weight) * attention_loss
        else:
            losses["loss"] = attention_loss
        return losses

    def transcribe(self, audio, **options):
        """Transcribe a path or a 16 kHz array; see :func:`asr.decoding.transcribe.transcribe`."""
        from asr.decoding.transcribe import transcribe

        return transcribe(self, audio, **options)
