"""A listen-attend-spell speech recognizer you can watch attend.

    import asr
    model = asr.load_model()                  # the bundled checkpoint
    result = model.transcribe("speech.wav", beam_size=5)
    result.text, result.words, result.attention
"""

from asr.audio import AudioError, load_audio
from asr.checkpoint import CheckpointError, load_model, save_checkpoint
from asr.decoding import DecodeOptions, DecodeResult, beam_search, decode, greedy_decode
from asr.model import LAS, ModelConfig
from asr.text import normalize_text
from asr.transcribe import Transcription, transcribe

__all__ = [
    "AudioError", "CheckpointError", "DecodeOptions", "DecodeResult", "LAS", "ModelConfig", "Transcription",
    "beam_search", "decode", "greedy_decode", "load_audio", "load_model", "normalize_text", "save_checkpoint",
    "transcribe",
]
