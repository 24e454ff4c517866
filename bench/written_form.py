"""Does the written form (numerals by asr.decoding.written) change accuracy on normalised text?

Usage:
    python bench/written_form.py                       # the bundled checkpoint, the accurate preset
    python bench/written_form.py --checkpoint exp/x.pt --preset fast

Two checks, both through asr.text.normalize_text as asr eval scores:

1. Text only: every sentence below in spoken form goes through asr.decoding.written and back through
   normalize_text; how many come back word for word, and the WER of the round trip.
2. Speech: the sentences spoken by flite's and espeak-ng's voices plus the example clips, scored
   by asr.apps.evaluate with the written form (the default) and with the speller's words (--no-itn).

Prints a Markdown table and asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asr.metrics import edit_distance  # noqa: E402
from asr.text import normalize_text  # noqa: E402
from asr.decoding.written import write_text  # noqa: E402

# Written-form references, many with numbers; each is spoken in its normalised (spoken) form.
SENTENCES = [
    "Set a timer for 10 minutes.",
    "Wake me up at 7 a.m. tomorrow.",
    "The meeting starts at 3:30 p.m.",
    "We moved here in 2020.",
    "She was born in 1999.",
    "The train leaves at 10:15.",
    "It costs $5 at the shop.",
    "Sales rose by 10% last year.",
    "Turn the volume down to 20.",
    "He ran 25 miles on Sunday.",
    "The 21st century began in 2001.",
    "There were 150 people at the party.",
    "Add 3.5 cups of flour.",
    "The house was built in 1905.",
    "Music from the 1980s is back.",
    "Call me back in 45 minutes.",
    "Page 12 has the answer.",
    "My flight is at 6 p.m.",
    "Remind me on the 4th of July.",
    "The one I like is blue.",
    "No one knows the way.",
    "Please turn on the kitchen lights.",
    "She sells sea shells by the shore.",
    "Open the window in the living room.",
    "Play some music for an hour.",
    "I have two cats and one dog.",
]
VOICES = (("flite", "slt"), ("espeak-ng", "en-us"))
EXAMPLES = {"set_a_timer.wav": "set a timer for ten minutes",
            "sea_shells.wav": "she sells sea shells by the shore",
            "turn_on_the_lights.wav": "please turn on the kitchen lights"}


def round_trip() -> tuple[int, int, float]:
    """(sentences back word for word, sentences, WER of spoken -> written -> normalised)."""
    exact = errors = words = 0
    for sentence in SENTENCES:
        spoken = normalize_text(sentence)
        back = normalize_text(write_text(spoken))
        exact += back == spoken
        errors += edit_distance(spoken.split(), back.split())
        words += len(spoken.split())
    return exact, len(SENTENCES), errors / words


def speak(directory: Path) -> list[dict]:
    """Manifest rows of the sentences spoken by each voice, and of the example clips."""
    rows = []
    for program, voice in VOICES:
        if shutil.which(program) is None:
            print(f"{program} is not installed: its voice is left out", file=sys.stderr)
            continue
        for i, sentence in enumerate(SENTENCES):
            path = directory / f"{program}_{i:02d}.wav"
            spoken = normalize_text(sentence)
            command = ([program, "-voice", voice, "-t", spoken, "-o", str(path)] if program == "flite"
                       else [program, "-v", voice, "-w", str(path), spoken])
            subprocess.run(command, check=True, capture_output=True)
            rows.append({"audio_filepath": str(path), "duration": 0.0, "text": sentence, "voice": program})
    for name, text in EXAMPLES.items():
        rows.append({"audio_filepath": str(ROOT / "examples" / name), "duration": 0.0, "text": text,
                     "voice": "examples"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None, help="checkpoint; the bundled one when not given")
    parser.add_argument("--preset", default="accurate", help="decoding preset")
    args = parser.parse_args()

    import torch

    from asr.model.checkpoint import default_checkpoint, load_model
    from asr.apps.evaluate import evaluate
    from asr.decoding.presets import preset, usable

    torch.set_num_threads(1)
    exact, total, wer = round_trip()
    print(f"Text round trip (spoken -> written -> normalised): {exact}/{total} sentences exact, WER {100 * wer:.2f} %")
    model = load_model(args.checkpoint or default_checkpoint(), "cpu")
    options = usable(preset(args.preset), model)
    with tempfile.TemporaryDirectory() as directory:
        rows = speak(Path(directory))
        reports = {itn: evaluate(model, rows, options, worst=0, itn=itn) for itn in (True, False)}
    print(f"\n{len(rows)} utterances, preset {args.preset}\n")
    print("| scored | CER % | WER % | written form differs from the words |")
    print("|---|---|---|---|")
    for itn, label in ((False, "speller's words (--no-itn)"), (True, "written form, normalised (default)")):
        report = reports[itn]
        changed = sum(u.written is not None for u in report.utterances)
        print(f"| {label} | {100 * report.cer:.2f} | {100 * report.wer:.2f} | {changed} |")
    differ = [(a, b) for a, b in zip(reports[True].utterances, reports[False].utterances)
              if a.hypothesis != b.hypothesis]
    print(f"\nUtterances scored differently: {len(differ)}")
    for written, spoken in differ:
        print(f"  {spoken.id}: {spoken.hypothesis!r} -> {written.written!r} -> {written.hypothesis!r}")


if __name__ == "__main__":
    main()
