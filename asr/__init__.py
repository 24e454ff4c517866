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
    "AudioError": "asr.audio", "AudioWarning": "asr.audio", "load_audio": "asr.audio",
    "CheckpointError": "asr.checkpoint", "load_model": "asr.checkpoint", "save_checkpoint": "asr.checkpoint",
    "DecodeOptions": "asr.decoding", "DecodeResult": "asr.decoding", "beam_search": "asr.decoding",
    "decode": "asr.decoding", "greedy_decode": "asr.decoding",
    "LAS": "asr.model", "ModelConfig": "asr.model",
    "preset": "asr.presets", "PRESETS": "asr.presets",
    "normalize_text": "asr.text",
    "Transcription": "asr.transcribe", "transcribe": "asr.transcribe",
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
