"""Train a character language model on text and bundle it with an acoustic model's checkpoint.

Usage:
    asr train-lm --text data/synth/text/train.txt --dev-text data/synth/text/dev.txt \\
        --checkpoint exp/whisper_tiny/averaged.pt --out exp/whisper_tiny/with_lm.pt
    asr transcribe speech.wav --checkpoint exp/whisper_tiny/with_lm.pt --beam-size 5 --lm-weight 0.3
    asr train-lm --lm-from checkpoints/las_whisper_base.pt --checkpoint exp/other/averaged.pt --out other_lm.pt

The output is the acoustic checkpoint with the language model added; decoding uses
it when --lm-weight is above 0.  With --lexicon, the words of those files and of
the training text go in too, and --oov-penalty makes beam search prefer them.
With --word-lm, the unigrams, bigrams and trigrams of an ARPA word model go in, for
--word-lm-weight (recipes/synth/export_word_lm.py exports one).
Never train on, or take words from, the sentences you will test on.
A killed run continues when started again with the same --exp-dir.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from asr.model.char_lm import LanguageModelConfig
from asr.training.lm import LMTrainingConfig


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text", type=Path, nargs="+", default=[], help="training text, one sentence per line")
    parser.add_argument("--dev-text", type=Path, nargs="*", default=[], help="held-out text for bits per character")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="acoustic model to bundle with (its vocabulary is used); default the bundled one")
    parser.add_argument("--out", type=Path, required=True, help="where the bundled checkpoint is written")
    parser.add_argument("--lexicon", type=Path, nargs="*", default=None, metavar="FILE",
                        help="also bundle a lexicon: the words of these word lists (e.g. "
                             "/usr/share/dict/american-english) and of the training text, for --oov-penalty")
    parser.add_argument("--word-lm", type=Path, default=None, metavar="ARPA",
                        help="also bundle a word LM: the unigrams, bigrams and trigrams of this ARPA file (e.g. "
                             "recipes/synth/export_word_lm.py's), for --word-lm-weight")
    parser.add_argument("--word-lm-prune", type=float, default=1.0, metavar="LOG10",
                        help="drop n-grams within this much of their back-off estimate (log10), to keep the "
                             "checkpoint small (default: %(default)s)")
    parser.add_argument("--lm-from", type=Path, default=None, metavar="CHECKPOINT",
                        help="take the language model (and, without --lexicon or --word-lm, the lexicon and "
                             "word LM; and the punctuator where the acoustic checkpoint has none) of this checkpoint "
                             "instead of training one: a text-only model serves any acoustic model of the same "
                             "vocabulary")
    parser.add_argument("--exp-dir", type=Path, default=Path("exp/lm"), help="resumable training state")
    parser.add_argument("--hidden", type=_positive(int), default=LanguageModelConfig.hidden, help="LSTM units")
    parser.add_argument("--layers", type=_positive(int), default=LanguageModelConfig.layers, help="LSTM layers")
    parser.add_argument("--epochs", type=_positive(int), default=LMTrainingConfig.epochs, help="passes over the text")
    parser.add_argument("--batch-characters", type=_positive(int), default=LMTrainingConfig.batch_characters,
                        help="padded characters per batch")
    parser.add_argument("--lr", type=_positive(float), default=LMTrainingConfig.peak_lr, help="peak learning rate")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: all cores)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, ... (auto: cuda when available)")


def run(args: argparse.Namespace) -> int:
    import torch

    from asr.model.checkpoint import CheckpointError, _first_line, default_checkpoint, load_model, model_to_dict
    from asr.model.lexicon import build_lexicon
    from asr.text import read_texts
    from asr.training.lm import bits_per_character, bundle, train_language_model
    from asr.model.word_lm import read_arpa

    if args.threads < 0:
        return _usage(f"--threads must be 0 (all cores) or more, got {args.threads}")
    try:
        device = torch.device("cpu" if args.device == "auto" else args.device)
    except RuntimeError:
        return _usage(f"--device {args.device!r} is not a torch device (try cpu or cuda)")
    if device.type == "cuda" and not torch.cuda.is_available():
        return _usage("--device cuda, but no CUDA GPU is available (use --device cpu)")
    existing = next(p for p in (args.out.parent, *args.out.parent.parents) if p.exists())
    if not os.access(existing, os.W_OK):
        return _usage(f"--out {args.out}: {existing} is not writable")  # found now, not after training
    if not args.text and not args.lm_from:
        return _usage("give --text to train a language model, or --lm-from to take one from a checkpoint")
    try:
        model = load_model(args.checkpoint or default_checkpoint())  # fails now, not after hours of training
        word_lm = read_arpa(args.word_lm, args.word_lm_prune) if args.word_lm is not None else None
        if word_lm is not None:
            print(f"word LM: {len(word_lm)} words, {word_lm.bigram_count()} bigrams, {word_lm.trigram_count()} "
                  f"trigrams from {args.word_lm}")
        if args.lm_from:
            return _reuse(model, load_model(args.lm_from), args, word_lm)
        texts, dev_texts = read_texts(args.text), read_texts(args.dev_text)
        # Built before training, so an unreadable word list fails now, not after it.
        lexicon = build_lexicon([*args.lexicon, *args.text]) if args.lexicon is not None else None
        overlap = len(set(texts) & set(dev_texts))
        if overlap:
            print(f"asr train-lm: warning: {overlap} dev sentences are also in the training text", file=sys.stderr)
        print(f"{len(texts)} training sentences, {sum(map(len, texts))} characters; {len(dev_texts)} dev sentences")
        lm = train_language_model(
            texts, dev_texts, model.vocabulary,
            LanguageModelConfig(vocab_size=len(model.vocabulary), hidden=args.hidden, layers=args.layers),
            LMTrainingConfig(epochs=args.epochs, batch_characters=args.batch_characters, peak_lr=args.lr,
                             threads=args.threads, device=args.device),
            args.exp_dir)
        lm.metadata["texts"] = [str(p) for p in args.text]
        bundle(model_to_dict(model), lm.cpu(), args.out, lexicon, word_lm)
    except (CheckpointError, ValueError, OSError) as error:
        print(f"asr train-lm: {_first_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        print(f"asr train-lm: {str(stop) or 'stopped'}", file=sys.stderr)
        return 130
    if dev_texts:
        print(f"dev: {bits_per_character(lm, dev_texts, model.vocabulary):.3f} bits per character")
    if lexicon is not None:
        print(f"lexicon: {len(lexicon)} words")
    print(f"model with language model: {args.out}")
    return 0


def _reuse(model, source, args, word_lm=None) -> int:
    from asr.model.checkpoint import model_to_dict
    from asr.model.lexicon import build_lexicon
    from asr.training.lm import bundle

    if source.language_model is None:
        return _usage(f"--lm-from {args.lm_from}: it has no language model")
    if list(source.vocabulary.tokens) != list(model.vocabulary.tokens):
        return _usage(f"--lm-from {args.lm_from}: its vocabulary differs from the acoustic model's")
    lexicon = build_lexicon([*args.lexicon, *args.text]) if args.lexicon is not None else source.lexicon
    word_lm = word_lm if word_lm is not None else source.word_language_model
    if model.punctuator is None:  # text-only too: capitals and punctuation serve any acoustic model
        model.punctuator = source.punctuator
    bundle(model_to_dict(model), source.language_model, args.out, lexicon, word_lm)
    print(f"model with the language model{' and punctuator' if model.punctuator else ''} of {args.lm_from}: "
          f"{args.out}")
    return 0


def _usage(message: str) -> int:
    print(f"asr train-lm: {message}", file=sys.stderr)
    return 2
