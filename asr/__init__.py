"""A listen-attend-spell speech recognizer you can watch attend.

    import asr
    model = asr.load_model()                  # the bundled checkpoint
    result = model.transcribe("speech.wav", beam_size=5)
    result.text, result.words, result.attention

The names below are imported on first use, so ``import asr`` (and ``asr --help``) does not
load torch.
"""

import importlib

_EXPORTS = {
    "AudioError": "asr.audio.io", "AudioWarning": "asr.audio.io", "load_audio": "asr.audio.io",
    "CheckpointError": "asr.model.checkpoint", "load_model": "asr.model.checkpoint", "save_checkpoint": "asr.model.checkpoint",
    "DecodeOptions": "asr.decoding.search", "DecodeResult": "asr.decoding.search", "beam_search": "asr.decoding.search",
    "decode": "asr.decoding.search", "greedy_decode": "asr.decoding.search",
    "LAS": "asr.model.las", "ModelConfig": "asr.model.las",
    "preset": "asr.decoding.presets", "PRESETS": "asr.decoding.presets",
    "normalize_text": "asr.text",
    "Transcription": "asr.decoding.transcribe", "transcribe": "asr.decoding.transcribe",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'asr' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return __all__
