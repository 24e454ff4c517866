"""Build an English speech corpus offline from speech synthesizers.

Usage:
    python recipes/synth/prepare.py --out data/synth            # all stages
    python recipes/synth/prepare.py --out data/synth --stage 3  # from stage 3 on
    python recipes/synth/prepare.py --out data/synth --corpus-version 2  # without Kokoro and RHVoice
    python recipes/synth/prepare.py --out data/synth --train-utterances 2000 --heldout-utterances 200  # a small one
    python recipes/synth/prepare.py --out data/synth --stage 3 --train-utterances 62000 \
        --subset train_redrawn 41489 62000  # speak texts again; that redraw alone in train_redrawn.jsonl
    python recipes/synth/prepare.py --out data/synth --corpus-version 4 --splits sampled  # version 4's new split only

Stages (each skips work already done, so a killed run just restarts):
    1. text       sentences from fortunes, word strings from wamerican, generated
                  everyday phrases; normalised; split into disjoint train/dev/test; version 4:
                  sentences sampled from pocketsphinx's trigram model (sampled_text.py)
    2. babble     a bank of speech used as crowd noise (from word strings, not corpus sentences)
    3. audio      synthesize + augment every utterance, in parallel on all cores
    4. manifests  train.jsonl, dev.jsonl, test.jsonl, test_natural.jsonl, conversation.jsonl, sampled.jsonl
                  (audio_filepath, duration, text, voice; and for train, dev and test text_source: fortune,
                  words or phrase, so that `asr eval` reports each)

Dev is spoken by training voices; test only by voices.HELD_OUT_VOICES; test_natural (version 3)
speaks test's sentences with the held-out Kokoro voices and their blends only. Version 3 adds
a training split, conversation: greetings and small talk (phrases.conversation), what people
say to a microphone first and the sentence texts barely have. Version 4 adds a training split,
sampled: sentences drawn from pocketsphinx's US English trigram model (sampled_text.py; the ARPA
file comes from export_word_lm.py), word sequences that read like speech, spoken by the same
voice mix as train.

Corpus versions: 1 is espeak-ng, flite and Piper; 2 gives a share of train and dev to Festival;
3 (the default) gives shares to Kokoro and RHVoice (voices.NATURAL_SHARE; their files come
from recipes/synth/fetch_voices.py). Each version remakes only the utterances whose voice its
draw changed, so a corpus grows from one version to the next, and stage 3 can be stopped and
restarted at any point: stage 4 then writes manifests of what is made so far.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import phrases  # noqa: E402
import voices  # noqa: E402
from asr.audio import augment  # noqa: E402
from asr.audio.io import SAMPLE_RATE, to_mono_16k, write_wav  # noqa: E402
from asr.files import atomic_path, write_atomic  # noqa: E402
from asr.training.manifest import write_manifest  # noqa: E402
from asr.text import normalize_text  # noqa: E402

FORTUNE_DIR = Path("/usr/share/games/fortunes")
WORDLIST = Path("/usr/share/dict/american-english")
SKIP_FORTUNE_FILES = {"ascii-art", "art", "translate-me", "ethnic", "men-women", "drugs"}
# An easy filter for the rare crude cookie that is not in the separate offensive package.
BLOCKLIST = {"fuck", "shit", "cunt", "nigger", "fag", "faggot", "rape", "whore", "slut", "bitch", "dick",
             "cock", "pussy", "tits", "bastard", "retard"}
MAX_UTTERANCE_SECONDS = 16.0
MIN_WORDS, MAX_WORDS = 2, 24
BABBLE_BANK_SIZE = 120


def fortune_sentences() -> list[str]:
    sentences = []
    for path in sorted(FORTUNE_DIR.iterdir()):
        if path.suffix or path.name in SKIP_FORTUNE_FILES or not path.is_file():
            continue
        for cookie in path.read_text(errors="ignore").split("\n%\n"):
            lines = [ln.strip() for ln in cookie.splitlines() if not ln.strip().startswith("--")]
            body = " ".join(lines)
            for raw in _split_sentences(body):
                if sum(c.isalpha() or c.isspace() for c in raw) < 0.85 * len(raw):
                    continue  # code, ascii art, tables
                text = normalize_text(raw)
                words = text.split()
                if MIN_WORDS + 1 <= len(words) <= MAX_WORDS and not BLOCKLIST & set(words):
                    sentences.append(text)
    return sorted(set(sentences))


def _split_sentences(text: str) -> list[str]:
    import re

    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def dictionary_words() -> list[str]:
    words = set()
    for line in WORDLIST.read_text(errors="ignore").splitlines():
        text = normalize_text(line)
        if text and " " not in text and line.islower() and not line.endswith("'s") and 2 <= len(text) <= 14 and not BLOCKLIST & {text}:
            words.add(text)
    return sorted(words)


TEXT_SOURCES = ("fortune", "words", "phrase")  # what each utterance's text is; manifests say it as text_source


def split_texts(seed: int, heldout_sentences: int) -> dict[str, list[tuple[str, str]]]:
    """(text, source) pairs for train, dev and test: a pure function of the seed and the installed text."""
    rng = random.Random(seed)
    words = dictionary_words()
    sources = {
        "fortune": fortune_sentences(),
        "words": sorted({" ".join(rng.sample(words, rng.randint(3, 8))) for _ in range(12_000)}),
        "phrase": sorted(set(phrases.generate(rng, 16_000))),
    }
    splits = {"train": [], "dev": [], "test": []}
    total = sum(len(v) for v in sources.values())
    for name, pool in sources.items():
        rng.shuffle(pool)
        # Dev and test draw from each source in proportion, and share no sentence with train.
        take = max(1, round(heldout_sentences * len(pool) / total))
        splits["test"] += [(text, name) for text in pool[:take]]
        splits["dev"] += [(text, name) for text in pool[take:2 * take]]
        splits["train"] += [(text, name) for text in pool[2 * take:]]
        print(f"  {name}: {len(pool)} texts")
    taken = {text for text, _ in splits["test"] + splits["dev"]}
    splits["train"] = [pair for pair in splits["train"] if pair[0] not in taken]
    for lines in splits.values():
        rng.shuffle(lines)
    return splits


def stage_text(out: Path, seed: int, heldout_sentences: int) -> None:
    text_dir = out / "text"
    texts = {split: text_dir / f"{split}.txt" for split in ("train", "dev", "test")}
    labels = {split: text_dir / f"{split}.source.txt" for split in texts}
    if all(path.exists() for path in [*texts.values(), *labels.values()]):
        print("stage 1 (text): done already")
        return
    splits = split_texts(seed, heldout_sentences)
    if all(path.exists() for path in texts.values()):
        # A corpus made before manifests said where each text came from: label the texts it has,
        # which the same seed and text packages make again line for line.
        if any(texts[split].read_text() != "".join(t + "\n" for t, _ in pairs) for split, pairs in splits.items()):
            print("stage 1 (text): the texts differ from what this seed makes now (other text packages?); "
                  "their sources stay unlabelled")
            return
        print("stage 1 (text): labelling the existing texts with their sources")
    text_dir.mkdir(parents=True, exist_ok=True)
    for split, pairs in splits.items():
        write_atomic(texts[split], "".join(text + "\n" for text, _ in pairs))
        write_atomic(labels[split], "".join(source + "\n" for _, source in pairs))
        print(f"  {split}: {len(pairs)} texts")


def text_sources(out: Path, split: str) -> dict[str, str]:
    """text -> where it came from (one of TEXT_SOURCES); empty for a corpus whose texts are unlabelled."""
    texts, labels = out / "text" / f"{split}.txt", out / "text" / f"{split}.source.txt"
    if not labels.exists():
        return {}
    return dict(zip(texts.read_text().splitlines(), labels.read_text().splitlines(), strict=True))


def _render(voice: str, text: str, rng: np.random.Generator) -> np.ndarray:
    samples, rate = voices.synthesize(voice, text, speed=float(rng.uniform(0.85, 1.2)), pitch=float(rng.uniform(0, 1)))
    return to_mono_16k(samples, rate)


def stage_babble(out: Path, seed: int) -> None:
    path = out / "babble.npz"
    if path.exists():
        print("stage 2 (babble): done already")
        return
    rng = np.random.default_rng(seed)
    # Version 1's engines only, so that the bank is the same as before Festival came.
    pool = [v for engine in voices.ENGINE_MIX for v in voices.training_voices()[engine]]
    words = dictionary_words()
    bank = []
    for i in tqdm(range(BABBLE_BANK_SIZE), desc="stage 2 (babble)"):
        text = " ".join(rng.choice(words, size=8))
        bank.append(_render(pool[rng.integers(len(pool))], text, rng))
    with atomic_path(path) as tmp, open(tmp, "wb") as file:  # a file object: savez adds no ".npz"
        np.savez(file, *bank)


_BABBLE: list[np.ndarray] = []


def _init_worker(babble_path: str) -> None:
    # The pool stops its workers with SIGTERM; a handler inherited from the caller would hang it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.environ["OMP_NUM_THREADS"] = "1"
    with np.load(babble_path) as bank:
        _BABBLE.extend(bank[k] for k in bank.files)


def augment_like_real_life(samples: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """A random chain of the distortions a real microphone adds. About a third stays clean."""
    applied = []
    pad = lambda: np.zeros(int(rng.uniform(0.05, 0.5) * SAMPLE_RATE), np.float32)  # noqa: E731
    samples = np.concatenate([pad(), samples, pad()])
    if rng.random() < 0.35:
        return samples * np.float32(10 ** (rng.uniform(-15, 0) / 20)), ["clean"]
    if rng.random() < 0.5:
        samples = augment.speed_perturb(samples, float(rng.uniform(0.9, 1.1)))
        applied.append("speed")
    if rng.random() < 0.35:
        samples = augment.reverberate(samples, float(rng.uniform(0.15, 0.7)), rng)
        applied.append("reverb")
    if rng.random() < 0.6:
        if rng.random() < 0.4 and _BABBLE:
            picks = [_BABBLE[i] for i in rng.choice(len(_BABBLE), size=int(rng.integers(3, 8)), replace=False)]
            noise = augment.babble(picks, samples.size, rng)
            applied.append("babble")
        else:
            noise = augment.colored_noise(samples.size, float(rng.choice([0.0, 1.0, 2.0])), rng)
            applied.append("noise")
        samples = augment.add_noise(samples, noise, float(rng.uniform(5, 30)))
    if rng.random() < 0.08:
        samples = augment.telephone(samples)
        applied.append("telephone")
    samples = samples / (np.abs(samples).max() + 1e-9) * np.float32(10 ** (rng.uniform(-18, -1) / 20))
    return samples.astype(np.float32), applied or ["clean"]


def _job(job: dict) -> dict | None:
    rng = np.random.default_rng(job["seed"])
    try:
        samples = _render(job["voice"], job["text"], rng)
    except Exception as error:  # a synthesizer that chokes on one sentence should not stop the corpus
        return {"id": job["id"], "voice": job["voice"],
                "error": str(error).splitlines()[0][:200] if str(error) else type(error).__name__}
    samples, applied = augment_like_real_life(samples, rng)
    duration = samples.size / SAMPLE_RATE
    if duration > MAX_UTTERANCE_SECONDS:
        return {"id": job["id"], "voice": job["voice"], "error": f"too long ({duration:.1f} s)"}
    path = Path(job["path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, samples)
    return {"id": job["id"], "audio_filepath": str(path.resolve()), "duration": round(duration, 3),
            "text": job["text"], "voice": job["voice"], "augment": "+".join(applied)}


def _utterance_id(split: str, index: int) -> str:
    return f"{split}-{index:06d}"


def text_split(split: str) -> str:
    """Whose sentences a split speaks: test_natural reads the test sentences."""
    return "test" if split == "test_natural" else split


def held_out_texts(out: Path) -> set[str]:
    """The dev and test sentences, which no training-only split may speak."""
    return set((out / "text" / "dev.txt").read_text().splitlines()) | set(
        (out / "text" / "test.txt").read_text().splitlines())


def stage_conversation_text(out: Path, seed: int, count: int) -> None:
    """Version 3's greetings and small talk (phrases.conversation), a training-only split of its own."""
    path = out / "text" / "conversation.txt"
    if path.exists():
        print("stage 1 (text): conversation done already")
        return
    held_out = held_out_texts(out)
    lines = [t for t in phrases.conversation(random.Random(f"{seed}/conversation"), count) if t not in held_out]
    write_atomic(path, "".join(t + "\n" for t in lines))
    print(f"  conversation: {len(lines)} texts, {len(set(lines))} distinct")


def stage_sampled_text(out: Path, seed: int, count: int, lm_path: Path) -> None:
    """Version 4's sentences sampled from a word trigram model, a training-only split of its own."""
    from asr.model.word_lm import read_arpa
    from sampled_text import sample_sentences

    path = out / "text" / "sampled.txt"
    if path.exists() and len(path.read_text().splitlines()) >= count:
        print("stage 1 (text): sampled done already")
        return
    if not lm_path.exists():
        raise SystemExit(f"prepare.py: error: {lm_path} is missing; make it with recipes/synth/export_word_lm.py")
    lines = sample_sentences(read_arpa(lm_path), count, seed, min_words=MIN_WORDS + 2, max_words=MAX_WORDS,
                             blocklist=frozenset(BLOCKLIST), exclude=held_out_texts(out))
    write_atomic(path, "".join(t + "\n" for t in lines))
    print(f"  sampled: {len(lines)} texts")


def plan_jobs(out: Path, split: str, count: int, seed: int, corpus_version: int = 3) -> list[dict]:
    texts = (out / "text" / f"{text_split(split)}.txt").read_text().split("\n")
    texts = [t for t in texts if t]
    if split == "test":
        engine_voices = {"heldout": list(voices.HELD_OUT_VOICES)}
        mix = {"heldout": 1.0}
    elif split == "test_natural":
        engine_voices = {"heldout": voices.kokoro_speakers(held_out=True)}
        mix = {"heldout": 1.0}
    else:
        engine_voices, mix = voices.training_voices(), voices.ENGINE_MIX
    held_out = split.startswith("test")
    festival_share = voices.FESTIVAL_SHARE if corpus_version >= 2 and not held_out else 0.0
    natural_share = voices.NATURAL_SHARE if corpus_version >= 3 and not held_out else {}
    jobs = []
    for i in range(count):
        # Each job is a pure function of (seed, split, i): growing --train-utterances keeps earlier jobs.
        rng = random.Random(f"{seed}/{split}/{i}")
        engine = rng.choices(list(mix), weights=list(mix.values()))[0]
        voice = rng.choice(engine_voices[engine])
        utterance_seed = rng.getrandbits(32)
        if rng.random() < festival_share:  # drawn last: see voices.FESTIVAL_SHARE
            voice = rng.choice(engine_voices["festival"])
        if natural_share:  # drawn after Festival's: see voices.NATURAL_SHARE
            draw = rng.random()
            for engine, share in natural_share.items():
                if draw < share:
                    voice = rng.choice(engine_voices[engine])
                    break
                draw -= share
        utt_id = _utterance_id(split, i)
        jobs.append({"id": utt_id, "text": texts[i % len(texts)], "voice": voice, "seed": utterance_seed,
                     "path": str(out / "audio" / split / utt_id[-3:] / f"{utt_id}.wav")})
    return jobs


def stage_audio(out: Path, counts: dict[str, int], seed: int, workers: int, corpus_version: int = 3) -> None:
    for needed in [out / "text" / f"{text_split(split)}.txt" for split in counts] + [out / "babble.npz"]:
        if not needed.exists():  # checked here: a worker failing to start would be restarted forever
            raise SystemExit(f"prepare.py: error: {needed} is missing; run stages 1 and 2 first (--stage 1)")
    for split, count in counts.items():
        rows_path = out / f"{split}.rows.jsonl"
        spoken, cut_short = {}, False  # id -> the voice that spoke it, as last recorded
        if rows_path.exists():
            recorded = rows_path.read_text()
            for line in recorded.splitlines():
                try:
                    row = json.loads(line)
                    spoken[row["id"]] = row.get("voice")
                except (json.JSONDecodeError, KeyError):
                    pass  # a line cut short by a kill; its utterance is redone
            cut_short = bool(recorded) and not recorded.endswith("\n")
        # An utterance whose planned voice changed since it was made (a new corpus version) is made
        # again; its new row comes later in the file, and stage 4 keeps an id's last row.
        todo = [job for job in plan_jobs(out, split, count, seed, corpus_version)
                if job["id"] not in spoken or spoken[job["id"]] not in (job["voice"], None)]
        if not todo:
            print(f"stage 3 (audio/{split}): done already")
            continue
        start = time.time()
        with Pool(workers, initializer=_init_worker, initargs=(str(out / "babble.npz"),)) as pool, \
                open(rows_path, "a") as rows:
            if cut_short:  # end the broken line, or the first new row would be glued onto it and lost
                rows.write("\n")
            for row in tqdm(pool.imap_unordered(_job, todo, chunksize=8), total=len(todo),
                            desc=f"stage 3 (audio/{split})", initial=0):
                rows.write(json.dumps(row) + "\n")
                rows.flush()
        print(f"  {split}: {len(todo)} utterances in {time.time() - start:.0f} s")


def stage_manifests(out: Path, counts: dict[str, int], subset: tuple[str, int, int] | None = None) -> None:
    """Write each split's manifest; ``subset`` (name, first, end) also writes ``name.jsonl``, the
    training utterances first..end-1, which is how a stage trains on one redraw of the texts."""
    for split, count in counts.items():
        # Only the utterances asked for: a smaller --train-utterances than last time makes a smaller set.
        wanted = {_utterance_id(split, i) for i in range(count)}
        rows_path = out / f"{split}.rows.jsonl"
        if not rows_path.exists():
            raise SystemExit(f"prepare.py: error: {rows_path} is missing; run stage 3 first (--stage 3)")
        rows = {}
        for line in rows_path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if row.get("id") in wanted:
                rows[row["id"]] = row
        sources = text_sources(out, split)
        for row in rows.values():
            if row.get("text") in sources:
                row["text_source"] = sources[row["text"]]
        good = [r for _, r in sorted(rows.items()) if "error" not in r and Path(r["audio_filepath"]).exists()]
        failed = len(rows) - len(good)
        write_manifest(out / f"{split}.jsonl", good)
        hours = sum(r["duration"] for r in good) / 3600
        voice_count = len({r["voice"] for r in good})
        print(f"stage 4 (manifests): {split}: {len(good)} utterances, {hours:.2f} h, {voice_count} voices"
              + (f", {failed} failed" if failed else ""))
        if subset and split == "train":
            name, first, end = subset
            ids = {_utterance_id(split, i) for i in range(first, end)}
            chosen = [r for r in good if r["id"] in ids]
            write_manifest(out / f"{name}.jsonl", chosen)
            print(f"stage 4 (manifests): {name}: {len(chosen)} utterances, "
                  f"{sum(r['duration'] for r in chosen) / 3600:.2f} h")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data/synth"), help="corpus directory")
    parser.add_argument("--stage", type=int, default=1, help="first stage to run")
    parser.add_argument("--stop-stage", type=int, default=4, help="last stage to run")
    parser.add_argument("--train-utterances", type=int, default=21_000, help="training utterances (~3.6 s each)")
    parser.add_argument("--heldout-utterances", type=int, default=600, help="dev and test utterances each")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="parallel synthesis processes")
    parser.add_argument("--seed", type=int, default=1234, help="seed for texts, voices and augmentation")
    parser.add_argument("--corpus-version", type=int, choices=(1, 2, 3, 4), default=3,
                        help="3 (default) adds Kokoro and RHVoice (run fetch_voices.py first); 2 is the corpus "
                             "before them; 1 the one before Festival's voices; 4 adds the sampled split")
    parser.add_argument("--natural-test-utterances", type=int, default=300,
                        help="test_natural utterances (version 3): held-out Kokoro voices and blends")
    parser.add_argument("--conversation-utterances", type=int, default=2_000,
                        help="conversation utterances (version 3): greetings and small talk, for training")
    parser.add_argument("--sampled-utterances", type=int, default=3_000,
                        help="sampled utterances (version 4): sentences drawn from --sampling-lm, for training")
    parser.add_argument("--sampling-lm", type=Path, default=Path("data/lm/en-us-3gram.arpa"),
                        help="the word trigram model the sampled split's sentences are drawn from "
                             "(export_word_lm.py --trigram-contexts 4000)")
    parser.add_argument("--splits", nargs="+", metavar="SPLIT",
                        help="stages 3 and 4 make only these splits (default: every split of the version)")
    parser.add_argument("--subset", nargs=3, metavar=("NAME", "FIRST", "END"),
                        help="stage 4 also writes NAME.jsonl: training utterances FIRST to END-1 "
                             "(e.g. train_redrawn 41489 62000, the new voice draws stage 15 trains on)")
    args = parser.parse_args(argv)
    subset = None
    if args.subset:
        name, first, end = args.subset
        if not (first.isdigit() and end.isdigit() and int(first) < int(end) <= args.train_utterances) \
                or name in ("train", "dev", "test") or not name.replace("_", "").isalnum():
            parser.error(f"--subset {name} {first} {end}: needs a new name and 0 <= FIRST < END <= "
                         f"--train-utterances ({args.train_utterances})")
        subset = (name, int(first), int(end))
    args.out.mkdir(parents=True, exist_ok=True)
    counts = {"train": args.train_utterances, "dev": args.heldout_utterances, "test": args.heldout_utterances}
    if args.corpus_version >= 3:  # the new splits first (small), then train: dev's new voices matter least
        counts = {"test_natural": args.natural_test_utterances, "conversation": args.conversation_utterances,
                  "train": counts["train"], "dev": counts["dev"], "test": counts["test"]}
    if args.corpus_version >= 4:
        counts = {"sampled": args.sampled_utterances} | counts
    if args.splits:
        unknown = set(args.splits) - set(counts)
        if unknown:
            parser.error(f"--splits: no split {', '.join(sorted(unknown))} in corpus version {args.corpus_version} "
                         f"(it has {', '.join(counts)})")
        counts = {split: count for split, count in counts.items() if split in args.splits}
    started = time.time()
    def text():
        stage_text(args.out, args.seed, args.heldout_utterances)
        if args.corpus_version >= 3:
            stage_conversation_text(args.out, args.seed, args.conversation_utterances)
        if args.corpus_version >= 4:
            stage_sampled_text(args.out, args.seed, args.sampled_utterances, args.sampling_lm)

    stages = {1: text,
              2: lambda: stage_babble(args.out, args.seed),
              3: lambda: stage_audio(args.out, counts, args.seed, args.workers, args.corpus_version),
              4: lambda: stage_manifests(args.out, counts, subset)}
    for number in range(args.stage, args.stop_stage + 1):
        stages[number]()
    print(f"done in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
