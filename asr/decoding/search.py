"""Decoding: functions that turn encoder states into text, driven by a frozen options dataclass.

    results = decode(model, waveforms, lengths, DecodeOptions(beam_size=5))

``greedy_decode`` is batched; ``beam_search`` searches each utterance with its
hypotheses batched, optionally adding CTC prefix scores (joint decoding), a
character language model's and a word n-gram model's (shallow fusion;
:mod:`asr.model.word_lm`) to the speller's, and charging a penalty for words outside
the checkpoint's lexicon (:mod:`asr.model.lexicon`).  Both stop at
``<eos>`` or at a length bound proportional to the audio's duration, so no input
can make them loop forever.  Every :class:`DecodeResult` carries the attention
matrix and the timings read off it.  ``decode`` can also run either of them at
several vocal-tract warps and keep each utterance's surest result (test-time VTLN).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from asr.decoding.alignment import WordTiming, character_times, word_timings
from asr.decoding.ctc_prefix import CTCPrefixScorer
from asr.model.attention import monotonic_window
from asr.model.vocab import SPECIAL_TOKENS
from asr.model.word_lm import SENTENCE_END, SENTENCE_START


# Test-time VTLN's warp factors (DecodeOptions.warp_factors), chosen on the mixed dev criterion and the
# recorded people of the dev sets: 0.8 added nothing beside these three (recipes/synth/RESULTS.md).
VTLN_WARP_FACTORS = (0.9, 1.0, 1.1)


@dataclass(frozen=True)
class DecodeOptions:
    beam_size: int = 1  # 1 is greedy; >1 is beam search
    ctc_weight: float = 0.0  # weight of CTC prefix scores in joint decoding (0 = attention only)
    length_penalty: float = 1.0  # final scores are divided by (characters + 1) ** length_penalty
    eos_threshold: float = 1.5  # without CTC, <eos> may end a beam only if log p(eos) > this * best other log p
    max_chars_per_second: float = 25.0  # length bound: at most this many characters per second of audio
    nbest: int = 5  # alternatives kept in each result (beam search)
    ctc_candidates: int = 10  # characters per hypothesis scored by CTC (the best by attention, + LM when fused)
    lm_weight: float = 0.0  # weight of the checkpoint's character LM (shallow fusion); 0 = no LM
    # Log-probability charged once per word that leaves the checkpoint's lexicon (asr.model.lexicon);
    # 0 = no lexicon, math.inf = lexicon words only.
    oov_penalty: float = 0.0
    # Weight of the checkpoint's word n-gram LM (asr.model.word_lm), fused at every character through its
    # look-ahead; 0 = no word LM.  word_bonus is added per word written, so that the word LM's cost
    # of every extra word doesn't make beam search drop or merge words.
    word_lm_weight: float = 0.0
    word_bonus: float = 0.0
    # Monotonic window at decode time: (seconds before, seconds after) the previous character's
    # attention peak that the next character may attend to; () attends to the whole segment.
    attention_window: tuple[float, ...] = ()
    # Seconds of silence the (pretrained) encoder hears before and after audio decoded whole, as a
    # word spoken alone is heard inside Whisper's window; 0 = none.  Pieces cut from longer audio
    # are decoded without it (asr.decoding.transcribe).
    encoder_context: float = 0.0
    # Test-time vocal-tract-length normalisation: decode once per warp factor, keep the surest result.
    # () decodes the audio as it is; VTLN_WARP_FACTORS is the tested set.  Like encoder_context, it
    # applies to audio decoded whole: pieces cut from longer audio are decoded once, unwarped
    # (asr.decoding.transcribe).
    warp_factors: tuple[float, ...] = ()
    # Seconds of the recording's own audio the (pretrained) encoder hears before and after each piece
    # cut from longer audio, as Whisper hears its neighbours inside its window; their states are
    # dropped again, so the speller attends to the piece alone (asr.decoding.transcribe).  0 = none.
    piece_context: float = 0.0

    def __post_init__(self):
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {self.beam_size}")
        if not 0.0 <= self.ctc_weight <= 1.0:
            raise ValueError(f"ctc_weight must be in [0, 1], got {self.ctc_weight}")
        if not 0.0 <= self.lm_weight <= 2.0:
            raise ValueError(f"lm_weight must be in [0, 2], got {self.lm_weight}")
        if not self.oov_penalty >= 0:  # also refuses NaN
            raise ValueError(f"oov_penalty must be 0 or more, got {self.oov_penalty}")
        if not 0.0 <= self.word_lm_weight <= 2.0:
            raise ValueError(f"word_lm_weight must be in [0, 2], got {self.word_lm_weight}")
        if not math.isfinite(self.word_bonus):
            raise ValueError(f"word_bonus must be a number, got {self.word_bonus}")
        try:
            object.__setattr__(self, "warp_factors", tuple(float(w) for w in self.warp_factors))
        except (TypeError, ValueError):
            raise ValueError(f"warp_factors must be a sequence of numbers, got {self.warp_factors!r}") from None
        try:
            object.__setattr__(self, "attention_window", tuple(float(w) for w in self.attention_window))
        except (TypeError, ValueError):
            raise ValueError(f"attention_window must be (seconds before, seconds after), got "
                             f"{self.attention_window!r}") from None
        if self.attention_window and (len(self.attention_window) != 2
                                      or not all(0 <= w < math.inf for w in self.attention_window)):
            raise ValueError(f"attention_window must be two seconds (before, after) of 0 or more, got "
                             f"{self.attention_window}")
        if not all(0.7 <= w <= 1.3 for w in self.warp_factors):
            raise ValueError(f"warp_factors must each be in [0.7, 1.3], got {self.warp_factors}")
        if not 0.0 <= self.encoder_context <= 10.0:  # also refuses NaN
            raise ValueError(f"encoder_context must be 0 to 10 seconds, got {self.encoder_context}")
        if not 0.0 <= self.piece_context <= 10.0:
            raise ValueError(f"piece_context must be 0 to 10 seconds, got {self.piece_context}")


@dataclass
class DecodeResult:
    text: str
    tokens: list[int]  # character ids, no <sos>/<eos>
    token_log_probs: np.ndarray  # (U,) log-probability of each character when it was chosen
    attention: np.ndarray  # (U, T) each character's attention over the T encoder frames
    char_starts: np.ndarray  # (U,) seconds
    char_ends: np.ndarray  # (U,) seconds
    words: list[WordTiming]
    score: float  # total log-probability (with <eos>); for beam search the fused score, length-normalised
    nbest: list[tuple[str, float]] = field(default_factory=list)  # (text, score), best first, distinct texts
    frame_seconds: float = 0.0  # seconds per attention column
    duration: float = 0.0  # seconds of audio
    warp: float = 1.0  # the vocal-tract warp factor the audio was decoded with (see DecodeOptions.warp_factors)

    @property
    def confidence(self) -> float:
        """Geometric mean character probability."""
        return float(np.exp(self.token_log_probs.mean())) if len(self.tokens) else 1.0


class DecodingStopped(Exception):
    """A decode given a ``stop`` callable was abandoned because ``stop()`` became true.

    Running transcripts pass one: once newer audio has arrived, the transcript of the older
    audio is not worth finishing.
    """


def _check(stop) -> None:
    if stop is not None and stop():
        raise DecodingStopped


def _windowed(model, options: DecodeOptions):
    """mask, previous weights -> the frames the next character may attend to (see ``attention_window``)."""
    if not options.attention_window:
        return lambda mask, weights: mask
    back, ahead = (int(round(seconds / model.frame_seconds)) for seconds in options.attention_window)
    return lambda mask, weights: monotonic_window(weights, mask, back, ahead)


def max_decode_length(num_samples: int, sample_rate: int, options: DecodeOptions) -> int:
    return int(math.ceil(options.max_chars_per_second * num_samples / sample_rate)) + 2


def _blocked_tokens(model) -> list[int]:
    vocab = model.vocabulary
    return [vocab.blank_id, vocab.sos_id]  # the speller never emits these


def _finish(model, tokens: list[int], log_probs: list[float], rows: list[torch.Tensor], score: float,
            num_frames: int, num_samples: int, warp: float = 1.0) -> DecodeResult:
    vocab = model.vocabulary
    text = vocab.decode(tokens)
    attention = torch.stack(rows)[:, :num_frames].cpu().numpy() if rows else np.zeros((0, num_frames))
    duration = num_samples / model.config.features.sample_rate
    starts, ends = character_times(attention, model.frame_seconds, duration)
    lp = np.asarray(log_probs, dtype=np.float64)
    return DecodeResult(text=text, tokens=list(tokens), token_log_probs=lp, attention=attention,
                        char_starts=starts, char_ends=ends, words=word_timings(text, starts, ends, lp),
                        score=score, nbest=[(text, score)], frame_seconds=model.frame_seconds, duration=duration,
                        warp=warp)


def _encode(model, waveforms, lengths, options: DecodeOptions, warp: float, margins):
    """Encoder states, their lengths, and the samples they stand for (``lengths`` less the margins)."""
    if margins is None:
        return (*model.encode(waveforms, lengths, warp, options.encoder_context), lengths)
    return (*model.encode(waveforms, lengths, warp, options.encoder_context, margins), lengths - margins.sum(1))


@torch.no_grad()
def greedy_decode(model, waveforms: torch.Tensor, lengths: torch.Tensor,
                  options: DecodeOptions = DecodeOptions(), warp: float = 1.0, stop=None,
                  margins: torch.Tensor | None = None) -> list[DecodeResult]:
    """Batched greedy decoding: the most likely character at every step (of audio warped by ``warp``).

    ``stop``: a callable checked before encoding and at every step; raises :class:`DecodingStopped`
    once it returns true.  ``margins``: see :func:`decode`."""
    vocab = model.vocabulary
    _check(stop)
    h, h_lengths, lengths = _encode(model, waveforms, lengths, options, warp, margins)
    mask = torch.arange(h.shape[1], device=h.device)[None, :] < h_lengths[:, None]
    speller = model.speller
    keys = speller.attention.precompute(h)
    state = speller.initial_state(h, mask)
    batch = h.shape[0]
    sample_rate = model.config.features.sample_rate
    limits = [max_decode_length(int(n), sample_rate, options) for n in lengths]
    tokens = torch.full((batch,), vocab.sos_id, dtype=torch.long, device=h.device)
    done = [False] * batch
    out_tokens, out_lp, out_rows, totals = [[] for _ in range(batch)], [[] for _ in range(batch)], \
        [[] for _ in range(batch)], [0.0] * batch
    blocked = _blocked_tokens(model)
    window = _windowed(model, options)
    for step in range(max(limits)):
        _check(stop)
        logits, state = speller.step(tokens, state, keys, h, window(mask, state.weights))
        logits[:, blocked] = float("-inf")
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        best_lp, tokens = log_probs.max(dim=-1)
        for i in range(batch):
            if done[i]:
                continue
            token = int(tokens[i])
            totals[i] += float(best_lp[i])
            if token == vocab.eos_id:
                done[i] = True
                continue
            out_tokens[i].append(token)
            out_lp[i].append(float(best_lp[i]))
            out_rows[i].append(state.weights[i])
            if step + 1 >= limits[i]:
                done[i] = True
        if all(done):
            break
    return [_finish(model, out_tokens[i], out_lp[i], out_rows[i], totals[i], int(h_lengths[i]), int(lengths[i]),
                    warp) for i in range(batch)]


@dataclass
class _Hypothesis:
    tokens: list[int]
    log_probs: list[float]  # attention log-probabilities of the chosen characters
    rows: list[torch.Tensor]  # attention weights per character
    score: float  # joint score so far
    ctc_state: np.ndarray | None = None  # (T, 2) CTC forward variables of the prefix
    ctc_score: float = 0.0  # CTC prefix log-probability
    word: str = ""  # the characters since the last space (lexicon checks)
    word_charged: bool = False  # whether that word has already paid the out-of-lexicon penalty
    history: tuple[str, ...] = (SENTENCE_START,)  # the last two whole words, for the word LM
    word_credit: float = 0.0  # the word LM's look-ahead score already added for ``word``


@torch.no_grad()
def beam_search(model, waveforms: torch.Tensor, lengths: torch.Tensor,
                options: DecodeOptions = DecodeOptions(beam_size=5), warp: float = 1.0, stop=None,
                margins: torch.Tensor | None = None) -> list[DecodeResult]:
    """Beam search per utterance, optionally with joint CTC prefix scoring, shallow fusion with the
    character LM and the word LM, and the lexicon's out-of-vocabulary penalty.

    Returns one result per utterance; its ``nbest`` holds up to ``options.nbest`` alternatives.
    ``stop``, ``margins``: as in :func:`greedy_decode`.
    """
    if options.lm_weight > 0 and model.language_model is None:
        raise ValueError("lm_weight > 0 needs a checkpoint with a language model (see asr train-lm)")
    if options.oov_penalty > 0 and model.lexicon is None:
        raise ValueError("oov_penalty > 0 needs a checkpoint with a lexicon (see asr train-lm --lexicon)")
    if options.word_lm_weight > 0 and model.word_language_model is None:
        raise ValueError("word_lm_weight > 0 needs a checkpoint with a word LM (see asr train-lm --word-lm)")
    _check(stop)
    h, h_lengths, lengths = _encode(model, waveforms, lengths, options, warp, margins)
    ctc_log_probs = torch.log_softmax(model.ctc_head(h).float(), dim=-1) if options.ctc_weight > 0 else None
    results = []
    for i in range(h.shape[0]):
        frames = int(h_lengths[i])
        ctc = None if ctc_log_probs is None else ctc_log_probs[i, :frames].cpu().numpy()
        results.append(_beam_search_one(model, h[i:i + 1, :frames], ctc, int(lengths[i]), options, warp, stop))
    return results


def _beam_search_one(model, h: torch.Tensor, ctc_log_probs, num_samples: int,
                     options: DecodeOptions, warp: float = 1.0, stop=None) -> DecodeResult:
    vocab, speller = model.vocabulary, model.speller
    beam, weight = options.beam_size, options.ctc_weight
    frames = h.shape[1]
    mask = torch.ones(1, frames, dtype=torch.bool, device=h.device)
    keys = speller.attention.precompute(h)
    state = speller.initial_state(h, mask)
    scorer = None if ctc_log_probs is None else CTCPrefixScorer(ctc_log_probs, vocab.blank_id, vocab.eos_id)
    lm = model.language_model if options.lm_weight > 0 else None
    lm_state = lm.initial_state(1, h.device) if lm is not None else None
    lexicon = model.lexicon if options.oov_penalty > 0 else None
    word_lm = model.word_language_model if options.word_lm_weight > 0 else None
    live = [_Hypothesis([], [], [], 0.0, scorer.initial_state() if scorer else None)]
    ended: list[_Hypothesis] = []
    blocked = _blocked_tokens(model)
    limit = max_decode_length(num_samples, model.config.features.sample_rate, options)
    window = _windowed(model, options)
    for step in range(limit + 1):
        _check(stop)
        count = len(live)
        prev = torch.tensor([hyp.tokens[-1] if hyp.tokens else vocab.sos_id for hyp in live], device=h.device)
        logits, state = speller.step(prev, state, _repeat(keys, count), h.expand(count, -1, -1),
                                     window(mask.expand(count, -1), state.weights))
        logits[:, blocked] = float("-inf")
        att_lp = torch.log_softmax(logits.float(), dim=-1)  # (K, V)
        if step == limit:  # out of length budget: every live hypothesis must end now
            att_lp = torch.full_like(att_lp, float("-inf"))
            att_lp[:, vocab.eos_id] = 0.0
        if scorer is None:
            # End of sentence only when <eos> is nearly as likely as the best character. With CTC
            # the prefix scores decide the end instead: attention alone often keeps <eos> below
            # the gate after the last word of a short clip, and then spells on ("rester rester").
            best_other = att_lp.clone()
            best_other[:, vocab.eos_id] = float("-inf")
            best_other = best_other.max(dim=-1).values
            eos_lp = att_lp[:, vocab.eos_id]
            allow_eos = (eos_lp > options.eos_threshold * best_other) | torch.isinf(best_other)
            att_lp[:, vocab.eos_id] = torch.where(allow_eos, eos_lp, torch.full_like(eos_lp, float("-inf")))

        # Candidates: the best characters by attention (plus LM, when fused, less the lexicon's charges);
        # CTC then rescores only these.
        lm_lp = None
        if lm is not None:
            lm_lp, lm_state = lm.step(prev, lm_state)  # (K, V): the LM's next character after each prefix
        ranking = att_lp if lm_lp is None else att_lp + options.lm_weight * lm_lp
        if lexicon is not None:
            charges = _lexicon_charges(lexicon, live, vocab, options.oov_penalty).to(ranking.device)  # (K, V)
            ranking = ranking - charges
        if word_lm is not None:
            gains, credits = _word_lm_gains(word_lm, live, vocab, options)  # (K, V) each
            ranking = ranking + torch.from_numpy(gains).to(ranking)
        width = min(options.ctc_candidates if scorer else beam, att_lp.shape[1])
        cand_ids = ranking.topk(width, dim=-1).indices  # (K, C)
        cand_lp = att_lp.gather(1, cand_ids)
        joint = cand_lp.cpu().numpy().astype(np.float64)
        cand_np = cand_ids.cpu().numpy()
        if scorer is not None:
            psi, r_new = scorer.extend(
                np.stack([hyp.ctc_state for hyp in live]),
                np.array([hyp.tokens[-1] if hyp.tokens else -1 for hyp in live]),
                np.array([not hyp.tokens for hyp in live]), cand_np)
            prefix = np.array([hyp.ctc_score for hyp in live])[:, None]
            joint = (1 - weight) * joint + weight * (psi - prefix)
        if lm_lp is not None:
            joint = joint + options.lm_weight * lm_lp.gather(1, cand_ids).cpu().numpy().astype(np.float64)
        charged = np.zeros(joint.shape, dtype=bool)
        if lexicon is not None:
            cand_charges = charges.gather(1, cand_ids).cpu().numpy().astype(np.float64)
            joint, charged = joint - cand_charges, cand_charges > 0
        if word_lm is not None:
            joint = joint + np.take_along_axis(gains, cand_np, axis=1)
        totals = np.array([hyp.score for hyp in live])[:, None] + joint  # (K, C)
        totals[~np.isfinite(joint)] = -np.inf
        # As in fairseq: look at the best 2*beam extensions; an <eos> among the best `beam`
        # finishes its hypothesis, the best `beam` others carry on.
        order = np.argsort(-totals, axis=None, kind="stable")[: 2 * beam]
        survivors, next_live = [], []
        for rank, flat in enumerate(order):
            k, c = divmod(int(flat), width)
            if not np.isfinite(totals[k, c]) or len(next_live) == beam:
                break
            token, hyp = int(cand_np[k, c]), live[k]
            if token == vocab.eos_id:
                if rank < beam:
                    ended.append(_Hypothesis(hyp.tokens, hyp.log_probs, hyp.rows, float(totals[k, c])))
                continue
            char = vocab.tokens[token]
            next_live.append(_Hypothesis(
                hyp.tokens + [token], hyp.log_probs + [float(cand_lp[k, c])], hyp.rows + [state.weights[k]],
                float(totals[k, c]), r_new[k, c] if scorer else None, float(psi[k, c]) if scorer else 0.0,
                word="" if char == " " else hyp.word + char,
                word_charged=char != " " and (hyp.word_charged or bool(charged[k, c])),
                history=_followed(hyp.history, hyp.word) if char == " " else hyp.history,
                word_credit=float(credits[k, token]) if word_lm is not None else 0.0))
            survivors.append(k)
        if len(ended) >= beam or not next_live:
            break
        live = next_live
        index = torch.tensor(survivors, device=h.device)
        state = state.select(index)
        lm_state = lm_state.select(index) if lm is not None else None
    if not ended:  # nothing could end: with lexicon words only, the length bound can fall inside a word
        ended = [_drop_unfinished_word(hyp, lexicon) for hyp in live] if lexicon is not None else live
    ranked = sorted(ended, key=lambda hyp: -_normalised(hyp, options))
    best = ranked[0]
    result = _finish(model, best.tokens, best.log_probs, best.rows, _normalised(best, options), frames, num_samples,
                     warp)
    result.nbest = _distinct([(vocab.decode(hyp.tokens), _normalised(hyp, options)) for hyp in ranked])[: options.nbest]
    return result


def _distinct(nbest: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """The n-best with one entry per text, spaces collapsed: hypotheses that differ only by a
    trailing or doubled space are one text to a reader, so only the best-scored one is kept."""
    seen, out = set(), []
    for text, score in nbest:
        text = " ".join(text.split())
        if text not in seen:
            seen.add(text)
            out.append((text, score))
    return out


def _lexicon_charges(lexicon, live: list[_Hypothesis], vocab, penalty: float) -> torch.Tensor:
    """(K, V): what each next character costs each hypothesis under the lexicon, 0 or ``penalty``.

    A letter is charged when no lexicon word starts with the word so far plus it; a space or
    ``<eos>`` when it ends a word that is only a prefix of lexicon words ("kindnes ").  A word
    pays once: after its first charge it is free to go on as it likes.
    """
    rows = []
    for hyp in live:
        if hyp.word_charged:
            rows.append([0.0] * len(vocab))
            continue
        allowed = lexicon.next_characters(hyp.word)
        ends_a_word = not hyp.word or hyp.word in lexicon
        row = []
        for token, char in enumerate(vocab.tokens):
            if char == " " or token == vocab.eos_id:  # the word ends here
                leaves = not ends_a_word
            else:  # the other special tokens are never written, so only characters are checked
                leaves = char not in SPECIAL_TOKENS and char not in allowed
            row.append(penalty if leaves else 0.0)
        rows.append(row)
    return torch.tensor(rows)


def _word_lm_gains(word_lm, live: list[_Hypothesis], vocab, options: DecodeOptions):
    """(gains, credits), each (K, V): what the word LM adds to each next character of each hypothesis.

    A letter moves the word's credit from the look-ahead of its prefix to that of the longer
    prefix; a space or ``<eos>`` replaces the credit with the whole word's log-probability
    (``<eos>`` also with the sentence end's) and adds ``options.word_bonus``; a space where no word
    ended is ruled out.  ``credits`` is the look-ahead a letter leaves on the extended hypothesis.
    """
    weight, bonus = options.word_lm_weight, options.word_bonus
    gains = np.zeros((len(live), len(vocab)))
    credits = np.zeros((len(live), len(vocab)))
    characters, ids, spaces = _spelled_characters(vocab.tokens)
    for k, hyp in enumerate(live):
        ended = word_lm.log_prob(hyp.history, hyp.word) - hyp.word_credit if hyp.word else 0.0
        last = _followed(hyp.history, hyp.word)
        # A space before any word, or a second one, is no text the LM knows.
        gains[k, spaces] = weight * ended + bonus if hyp.word else -math.inf
        gains[k, vocab.eos_id] = weight * (ended + word_lm.log_prob(last, SENTENCE_END)) + (bonus if hyp.word else 0.0)
        credits[k, ids] = word_lm.lookaheads(hyp.history, hyp.word, characters)
        gains[k, ids] = weight * (credits[k, ids] - hyp.word_credit)
    return gains, credits


@functools.lru_cache(maxsize=8)
def _spelled_characters(tokens: tuple[str, ...]) -> tuple[str, np.ndarray, list[int]]:
    """The characters a word is spelled with (neither the space nor a special token), in code-point
    order as :meth:`asr.model.word_lm.WordLanguageModel.lookaheads` wants them, their token ids, and
    the space's token ids."""
    spelled = sorted((char, token) for token, char in enumerate(tokens) if char != " " and char not in SPECIAL_TOKENS)
    spaces = [token for token, char in enumerate(tokens) if char == " "]
    return "".join(char for char, _ in spelled), np.array([token for _, token in spelled], dtype=np.int64), spaces


def _followed(history: tuple[str, ...], word: str) -> tuple[str, ...]:
    """The word LM's history once ``word`` (if any) is written: its last two words."""
    return (history[-1], word) if word else history


def _drop_unfinished_word(hyp: _Hypothesis, lexicon) -> _Hypothesis:
    """``hyp`` without its last word (and the space before it) when that word is not in the lexicon."""
    if not hyp.word or hyp.word in lexicon:
        return hyp
    keep = max(len(hyp.tokens) - len(hyp.word) - 1, 0)
    return _Hypothesis(hyp.tokens[:keep], hyp.log_probs[:keep], hyp.rows[:keep], hyp.score)


def _normalised(hyp: _Hypothesis, options: DecodeOptions) -> float:
    return hyp.score / (len(hyp.tokens) + 1) ** options.length_penalty


def _repeat(keys: torch.Tensor, count: int) -> torch.Tensor:
    return keys.expand(count, *keys.shape[1:])


def decode(model, waveforms: torch.Tensor, lengths: torch.Tensor,
           options: DecodeOptions = DecodeOptions(), stop=None, margins: torch.Tensor | None = None) -> list[DecodeResult]:
    """Greedy when ``beam_size == 1`` with no CTC, LM or lexicon, beam search otherwise.

    ``stop``: a callable checked before encoding and at every step of the search; once it returns
    true the decode is abandoned with :class:`DecodingStopped`.
    ``margins``: (B, 2) samples at the start and end of each waveform that are only the audio around
    what is decoded (see :meth:`asr.model.las.LAS.encode`); results, timings and attention cover the
    rest alone, as if it had been passed without them.

    With ``options.warp_factors`` each utterance is decoded once per vocal-tract warp factor
    and keeps the result with the best score per character: test-time vocal-tract-length
    normalisation (VTLN), which moves a voice's formants towards the voices the model knows.
    """
    greedy = options.beam_size == 1 and options.ctc_weight == 0 and options.lm_weight == 0 \
        and options.oov_penalty == 0 and options.word_lm_weight == 0
    search = greedy_decode if greedy else beam_search
    if not options.warp_factors:
        return search(model, waveforms, lengths, options, stop=stop, margins=margins)
    best = None
    for warp in options.warp_factors:
        results = search(model, waveforms, lengths, options, warp=warp, stop=stop, margins=margins)
        best = results if best is None else [max(kept, new, key=lambda r: _score_per_character(r, greedy))
                                             for kept, new in zip(best, results)]
    return best


def _score_per_character(result: DecodeResult, greedy: bool) -> float:
    """What VTLN compares across warps of one utterance: its score per character, <eos> included.

    A greedy result's ``score`` is its total log-probability; beam search's is already divided by
    the length. An empty transcript is scored on its <eos> alone.
    """
    return result.score / (len(result.tokens) + 1) if greedy else result.score
