"""bench/SYNTHETIC.md from the results of bench/run_all.py: tables, the targets, and what the numbers mean.

    markdown = render(json.loads(Path("bench/results/<stamp>.json").read_text()))

Every sentence that compares the two systems is computed from the numbers of
the same run, so a row or a verdict where pocketsphinx wins says so.
"""

from __future__ import annotations

import math

PEER = "pocketsphinx"
# The project's targets for the bundled model and for asr transcribe.
TARGET_CER, TARGET_WER = 0.05, 0.15
TARGET_TRAIN_AUDIO_S_PER_S = 60.0
TARGET_RTF = {"greedy": 0.05, "beam 5": 0.1}
TEXT_SOURCES = {  # the synth recipe's text_source values
    "fortune": "sentences from fortune cookies",
    "phrase": "everyday phrases: numbers, dates, times, spelled letters, commands",
    "words": "3-8 random dictionary words, no context to lean on",
}
SYNTH_TEST = "data/synth/test.jsonl"  # the synth recipe's test set: voices held out of training


def render(results: dict) -> str:
    parts = [_header(results), _summary(results), _targets(results), _test_table(results), _voice_table(results),
             _text_source_table(results),
             _human_speech_table(results), _scaling_table(results), _training_table(results), _notes(results)]
    return "\n\n".join(p for p in parts if p) + "\n"


# --- formatting ------------------------------------------------------------------------------------

def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _times(ours: float, theirs: float, less: str, more: str) -> str:
    """'3.2× faster' style wording of ours against theirs, where smaller is better."""
    if ours <= 0 or theirs <= 0:
        return "n/a"
    return f"{theirs / ours:.1f}× {less}" if ours <= theirs else f"{ours / theirs:.1f}× {more}"


def _length(seconds: float) -> str:
    return f"{seconds:.0f}-second" if seconds < 120 else f"{seconds / 60:.0f}-minute"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _peer(runs: list[dict]) -> dict | None:
    return next((r for r in runs if r["system"] == PEER), None)


def _ours(runs: list[dict]) -> list[dict]:
    return [r for r in runs if r["system"] == "ours"]


def _best(results: dict) -> dict:
    """Our most accurate configuration (by WER, then CER), at batch 1."""
    return min((r for r in _ours(results["test_runs"]) if r["batch_size"] == 1), key=lambda r: (r["wer"], r["cer"]))


def _exponent(runs: list[dict]) -> float:
    """k in wall time ∝ audio length^k, by least squares on logarithms (1 is linear)."""
    xs = [math.log(r["audio_s"]) for r in runs]
    ys = [math.log(r["wall_s"]) for r in runs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / spread if spread else float("nan")


# --- sections --------------------------------------------------------------------------------------

def _header(results: dict) -> str:
    m, ckpt, test = results["machine"], results["checkpoint"], results["test_set"]
    peer = f"pocketsphinx {results['peer']}" if results.get("peer") else "pocketsphinx (not run: --no-peer)"
    minutes = test["audio_s"] / 60
    subset = (f"a fixed subset of {test['utterances']} of its {test['of']} utterances (seed {test['seed']}; "
              f"the full set takes too long for one ~20-minute run)" if test["utterances"] < test["of"]
              else f"all {test['of']} utterances")
    rows = [
        ["Command", f"`{results['command']}`"],
        ["Date", results["date"]],
        ["Machine", f"{m['cpu']}, {m['cpus']} CPUs, {m['memory_gib']} GiB RAM, {m['platform']}; "
                    f"load average {m['load_average_start']:.1f} at the start, {m.get('load_average_end', 0):.1f} "
                    "at the end"],
        ["GPU", m["gpu"] or "none on this machine (no GPU machine was available for this run): "
                           "everything ran on the CPU"],
        ["Software", f"Python {m['python']}, torch {m['torch']}, {peer}; code at git `{m['git']}`"],
        ["Our model", f"`{ckpt['path']}`: {ckpt['parameters'] / 1e6:.2f} M parameters, {ckpt['megabytes']} MB, "
                      f"step {ckpt['step']}, {ckpt['train_hours']} h of training audio"
                      + (f"; a character language model of {ckpt['language_model_parameters'] / 1e6:.2f} M "
                         "parameters in the same file" if ckpt.get("language_model_parameters") else "")],
        ["Peer", "pocketsphinx from PyPI with the models it bundles: US English acoustic model, CMUdict, "
                 "trigram language model; offline"],
        ["Test audio", f"`{test['manifest']}`, {subset}: {minutes:.1f} minutes, voices "
                       f"{', '.join(f'`{v}`' for v in test['voices'])}"
                       + (", none of them heard in training" if test["manifest"] == SYNTH_TEST else "")],
        ["Threads", f"our decoding: {results['threads']} torch thread(s), as `asr transcribe` defaults to; "
                    "pocketsphinx: single-threaded"],
    ]
    return ("# Benchmarks\n\n"
            "Our bundled listen-attend-spell model next to pocketsphinx, on the same audio, in the same run.\n"
            "Reproduce everything (it installs pocketsphinx from `bench/requirements.txt`; this run took "
            f"{results.get('minutes', 0):.0f} minutes):\n\n"
            "    bash bench/run.sh\n\n"
            "`bash bench/run.sh --quick` is a smoke run of a few minutes (written to `bench/results/`, not here); "
            "`python bench/run_all.py --help` lists the options. Each run also keeps its raw numbers, "
            "hypotheses included, in `bench/results/<date>.json` (not committed).\n\n" + _table(["", "This run"], rows))


def _summary(results: dict) -> str:
    runs, peer = results["test_runs"], _peer(results["test_runs"])
    if peer is None:
        return "## Summary\n\npocketsphinx was not run (`--no-peer`), so there is nothing to compare against."
    best = _best(results)
    lines = [f"- **Accuracy:** our best configuration ({best['decoding']}) has WER {_pct(best['wer'])} and CER "
             f"{_pct(best['cer'])}; pocketsphinx has WER {_pct(peer['wer'])} and CER {_pct(peer['cer'])}. "
             + _ahead(best, peer)]
    behind = [f"`{voice}` (our WER {_pct(ours['wer'])}, pocketsphinx's {_pct(peer['by_voice'][voice]['wer'])})"
              for voice, ours in best["by_voice"].items()
              if voice in peer["by_voice"] and peer["by_voice"][voice]["wer"] < ours["wer"]]
    if behind:
        lines.append(f"- **Where pocketsphinx is more accurate:** voice{'s' if len(behind) > 1 else ''} "
                     + ", ".join(behind) + "; see the per-voice table.")
    human = results.get("human_speech") or {}
    human_peer, human_ours = _peer(human.get("runs") or []), _ours(human.get("runs") or [])
    if human_peer and human_ours:
        # The configuration picked on the synthetic set, not the one that happens to do best here.
        ours = next((r for r in human_ours if r["decoding"] == best["decoding"]),
                    min(human_ours, key=lambda r: (r["wer"], r["cer"])))
        lines.append(f"- **On human speech** ({len(human['references'])} recordings of people): ours "
                     f"({ours['decoding']}) has WER {_pct(ours['wer'])} and CER {_pct(ours['cer'])}; pocketsphinx "
                     f"has WER {_pct(human_peer['wer'])} and CER {_pct(human_peer['cer'])}. "
                     + _ahead(ours, human_peer) + " See *Human speech*.")
    speeds = [f"{r['decoding']} at batch {r['batch_size']}: "
              f"{_times(r['wall_rtf'], peer['wall_rtf'], 'faster', 'slower')}" for r in _ours(runs)]
    lines.append("- **Speed** (wall clock, against pocketsphinx decoding the same files one after another): "
                 + "; ".join(speeds) + ".")
    ours_peak = max(r["peak_rss_mb"] for r in _ours(runs))
    ours_load = min(r["rss_after_load_mb"] for r in _ours(runs))
    memory = (f"- **Memory:** our peak RSS on the test files is up to {ours_peak:.0f} MB ({ours_load:.0f} MB of it "
              f"once torch and the model are loaded), pocketsphinx's {peer['peak_rss_mb']:.0f} MB: ours takes "
              f"{_times(ours_peak, peer['peak_rss_mb'], 'less', 'more')} memory.")
    scaling = results["scaling_runs"]
    longest = [r for r in scaling if r["target_s"] == max((r["target_s"] for r in scaling), default=None)]
    if len(longest) == 2:
        ours_long, peer_long = sorted(longest, key=lambda r: r["system"] != "ours")
        memory += (f" On the {_length(ours_long['audio_s'])} file: {ours_long['peak_rss_mb']:.0f} MB against "
                   f"{peer_long['peak_rss_mb']:.0f} MB.")
    lines.append(memory)
    if len({r["target_s"] for r in scaling}) > 1:
        exps = []
        for system in ("ours", PEER):
            if any(r["system"] == system for r in scaling):
                k = _exponent([r for r in scaling if r["system"] == system])
                shape = ("linear" if 0.9 <= k <= 1.1 else "less than linear: fixed costs weigh most on the "
                         "shortest file" if k < 0.9 else "faster than linear")
                exps.append(f"{system} k = {k:.2f} ({shape})")
        lines.append("- **Scaling:** from the shortest file to the longest, time grows as length^k: "
                     + "; ".join(exps) + ".")
    for run in results["training_runs"]:
        device = "the CPU" if run["device"] == "cpu" else "the GPU"
        lines.append(f"- **Training:** {run['audio_s_per_s']:.0f} seconds of audio per second on {device} "
                     f"for `{run['config']}`.")
    return "## Summary\n\n" + "\n".join(lines)


def _ahead(ours: dict, peer: dict) -> str:
    wer, cer = 100 * (peer["wer"] - ours["wer"]), 100 * (peer["cer"] - ours["cer"])  # > 0: ours is better
    if wer > 0 and cer > 0:
        return f"Ours is ahead on both, by {wer:.1f} WER points and {cer:.1f} CER points."
    if wer <= 0 and cer <= 0:
        return f"pocketsphinx is ahead on both, by {-wer:.1f} WER points and {-cer:.1f} CER points."
    return (f"Ours is ahead on {'WER' if wer > 0 else 'CER'} by {abs(wer if wer > 0 else cer):.1f} points, "
            f"pocketsphinx on {'CER' if wer > 0 else 'WER'} by {abs(cer if wer > 0 else wer):.1f}.")


def _targets(results: dict) -> str:
    ours, best = _ours(results["test_runs"]), _best(results)
    rows = []
    for name, wanted, measured in (("CER", TARGET_CER, best["cer"]), ("WER", TARGET_WER, best["wer"])):
        rows.append([f"Held-out-voice test {name}", f"≤ {_pct(wanted)}",
                     f"{_pct(measured)} ({best['decoding']})", "yes" if measured <= wanted else "**no**"])
    for decoding, wanted in TARGET_RTF.items():
        worst = max((r for r in ours if r["decoding"] == decoding), key=lambda r: r["wall_rtf"], default=None)
        if worst:
            rtfs = ", ".join(f"{r['wall_rtf']:.3f} at batch {r['batch_size']}"
                             for r in ours if r["decoding"] == decoding)
            rows.append([f"Real-time factor, {decoding}, batch 1 and batched", f"≤ {wanted}", rtfs,
                         "yes" if worst["wall_rtf"] <= wanted else "**no**"])
    for run in (r for r in results["training_runs"] if r["device"] == "cpu"):
        rows.append(["Training throughput, default config, CPU", f"≥ {TARGET_TRAIN_AUDIO_S_PER_S:.0f} s/s",
                     f"{run['audio_s_per_s']:.1f} s/s", "yes" if run["audio_s_per_s"] >= TARGET_TRAIN_AUDIO_S_PER_S
                     else "**no**"])
    test = results["test_set"]
    note = (f"\n\nAccuracy is measured on the {test['utterances']}-utterance subset above, not on all "
            f"{test['of']}." if test["utterances"] < test["of"] else "")
    return "## Project targets\n\n" + _table(["Target", "Wanted", "Measured", "Met"], rows) + note


def _test_table(results: dict) -> str:
    runs, peer = results["test_runs"], _peer(results["test_runs"])
    rows = []
    for r in runs:
        name = "ours" if r["system"] == "ours" else "pocketsphinx"
        vs = f"{r['wall_rtf'] / peer['wall_rtf']:.2f}" if peer else "—"
        rows.append([name, r["decoding"], str(r["batch_size"]), _pct(r["wer"]), _pct(r["cer"]),
                     f"{r['wall_rtf']:.3f}", f"{r['cpu_rtf']:.3f}", vs, f"{r['peak_rss_mb']:.0f}",
                     f"{r['rss_after_load_mb']:.0f}"])
    batched = "batched: n/a (no batched decoding; it takes files one after another, the row above)"
    rows.append(["pocketsphinx", "default", batched if peer else "not run (`--no-peer`)"] + ["—"] * 7)
    test = results["test_set"]
    return (f"## Accuracy, speed and memory on the held-out voices\n\n"
            f"{test['utterances']} utterances, {test['audio_s'] / 60:.1f} minutes of audio. Real-time factor (RTF): "
            "seconds of compute per second of audio, wall clock and CPU time (all threads). "
            "\"÷ pocketsphinx\" is the wall RTF over pocketsphinx's in this run: below 1 ours is faster. "
            "Memory is the process's resident set: its peak while transcribing, and after loading and one "
            "warm-up file.\n\n"
            + _table(["System", "Decoding", "Batch", "WER", "CER", "Wall RTF", "CPU RTF", "÷ pocketsphinx",
                      "Peak RSS (MB)", "RSS after load (MB)"], rows))


def _voice_table(results: dict) -> str:
    best, peer = _best(results), _peer(results["test_runs"])
    rows = []
    for voice, ours in best["by_voice"].items():
        theirs = peer["by_voice"][voice] if peer else None
        rows.append([f"`{voice}`", str(ours["words"]), _pct(ours["wer"]), _pct(ours["cer"]),
                     _pct(theirs["wer"]) if theirs else "—", _pct(theirs["cer"]) if theirs else "—"])
    return (f"## Per held-out voice\n\nOurs with {best['decoding']} (batch 1).\n\n"
            + _table(["Voice", "Words", "Ours WER", "Ours CER", "pocketsphinx WER", "pocketsphinx CER"], rows))


def _text_source_table(results: dict) -> str:
    best = _best(results)
    sources = best.get("by_text_source", {})  # absent from runs made before the manifests said it
    if set(sources) <= {"?"}:
        return ""
    rows = [[f"`{source}`", TEXT_SOURCES.get(source, ""), str(ours["words"]), _pct(ours["wer"]), _pct(ours["cer"])]
            for source, ours in sources.items()]
    return (f"## Per kind of text\n\nThe same run (ours with {best['decoding']}, batch 1), by what the held-out "
            "voices read.\n\n" + _table(["Text", "What it is", "Words", "Ours WER", "Ours CER"], rows))


def _human_speech_table(results: dict) -> str:
    human = results.get("human_speech")  # absent from runs made before this section existed
    if not human:
        return ""
    sources = human["sources"]
    missing = [f"`{s['path']}`" for s in sources.values() if s.get("missing")]
    left_out = f"Left out, not found: {', '.join(missing)}." if missing else ""
    if not human["runs"]:
        return f"## Human speech\n\nNot measured: no recordings of people. {left_out}"
    prompts, clips = sources["manifest"], sources["clips"]
    described = []
    if not prompts.get("missing"):
        described.append(f"{prompts['utterances']} of the {prompts['of']} prompts in `{prompts['path']}` (seed "
                         f"{prompts['seed']}; `recipes/asterisk/`: the Asterisk telephone exchange's English voice "
                         "prompts, one professional speaker, 8 kHz telephone audio)")
    if not clips.get("missing"):
        described.append(f"the {clips['utterances']} channel names that Debian's alsa-utils ships for "
                         f"`speaker-test` (`{clips['path']}`: one speaker, a wide-band microphone, two words each)")
    runs = human["runs"]
    voices = list(runs[0]["by_voice"])
    rows = [["ours" if r["system"] == "ours" else PEER, r["decoding"], _pct(r["wer"]), _pct(r["cer"])]
            + [f"{_pct(r['by_voice'][v]['wer'])} / {_pct(r['by_voice'][v]['cer'])}" for v in voices] for r in runs]
    words = sum(len(text.split()) for text in human["references"])
    parts = [f"## Human speech\n\nThe only recordings of people on this offline machine: "
             f"{' and '.join(described)}. {words} words, {human['audio_s'] / 60:.1f} minutes. Our training data "
             "is all synthetic; this is how far it carries over to a person." + (f" {left_out}" if left_out else ""),
             _table(["System", "Decoding", "WER", "CER"] + [f"`{v}` WER / CER" for v in voices], rows)]
    said = [i for i, voice in enumerate(human["voices"]) if voice == clips.get("voice")]
    if said:
        parts.append("What each system heard in the alsa-utils clips:\n\n" + _table(
            ["Said"] + [f"{'ours' if r['system'] == 'ours' else PEER}, {r['decoding']}" for r in runs],
            [[f"`{human['references'][i]}`"] + [f"`{r['texts'][i]}`" for r in runs] for i in said]))
    return "\n\n".join(parts)


def _scaling_table(results: dict) -> str:
    runs = results["scaling_runs"]
    if not runs:
        return ""
    rows = [["ours (greedy, batch " + str(r["batch_size"]) + ")" if r["system"] == "ours" else "pocketsphinx",
             f"{r['audio_s']:.0f}", f"{r['wall_s']:.1f}", f"{r['wall_rtf']:.4f}", f"{r['cpu_rtf']:.4f}",
             f"{r['peak_rss_mb']:.0f}"] for r in sorted(runs, key=lambda r: (r["system"] != "ours", r["audio_s"]))]
    return ("## Scaling with audio length\n\n"
            "Files made by concatenating the test clips with 0.8 s pauses. Both systems cut audio longer than 20 s "
            "at pauses (ours by energy, pocketsphinx by its voice-activity endpointer) and decode the pieces, "
            "reading the file in blocks. Linear growth shows as a constant time per audio second.\n\n"
            + _table(["System", "Audio (s)", "Wall (s)", "Wall s per audio s", "CPU s per audio s", "Peak RSS (MB)"],
                     rows))


def _training_table(results: dict) -> str:
    m = results["machine"]
    rows = []
    for r in results["training_runs"]:
        device = f"CPU ({m['cpus']} cores)" if r["device"] == "cpu" else f"GPU ({m['gpu']})"
        rows.append([f"`{r['config']}`", device, str(r["threads"]), str(r["steps"]),
                     f"{r['audio_per_step_s']:.0f}", f"{r['wall_s']:.0f}", f"**{r['audio_s_per_s']:.1f}**"])
    if not m["gpu"]:
        rows.append(["largest config that fits", "GPU", "—", "—", "—", "—",
                     "not measured here (no GPU on this machine): `bash bench/gpu.sh` measures it on a "
                     "CUDA machine; figures in recipes/synth/README.md"])
    else:
        rows.append(["largest config that fits, with utilisation", "GPU", "—", "—", "—", "—",
                     "not measured by bench/run_all.py"])
    return ("## Training throughput\n\n"
            "Seconds of training audio (unpadded, after speed perturbation) per wall-clock second, over the timed "
            "steps of `asr.train.Trainer` after a few untimed ones, data loading and augmentation included "
            "(`bench/train_speed.py`). Batches come in shuffled order, as in every epoch after the first.\n\n"
            + _table(["Config", "Device", "Torch threads", "Timed steps", "Audio per step (s)", "Wall (s)",
                      "Audio s per s"], rows))


def _notes(results: dict) -> str:
    return """## How to read this

- **Same run, same audio.** Each row is one timed pass over the files after one warm-up file, in a fresh
  process (`bench/measure.py`), so its peak memory is its own. The machine may be shared: absolute times are
  context, the ratios between rows of this run are the comparison. The load averages above show how busy it was.
- **Same scoring.** Hypotheses of both systems and the references go through `asr.text.normalize_text`;
  WER and CER are corpus rates (total edits over total reference words or characters).
- **Where the comparison leans our way.** The test voices are held out, but they come from the same
  synthesizers (espeak-ng, flite) as our training data; pocketsphinx's acoustic model was trained on human
  speech. Part of the test set is random dictionary words, which an open-vocabulary character model can spell
  but a closed-vocabulary recognizer with an n-gram language model cannot. On real recordings the gap
  shrinks or turns: *Human speech* above is a first, very small measurement of that.
- **Where it leans pocketsphinx's way.** Its process holds only pocketsphinx, numpy and soundfile; ours holds
  torch, which is most of our memory before any audio is decoded.
- **Batching.** pocketsphinx has no batched decoding; for many files it decodes one after another, which is
  its batch-1 row. Our batched rows decode up to that many utterances (or pieces of long files) together.
- **Threads.** Our decoding used the thread count above (`asr transcribe`'s default: on a busy 2-core machine a
  second torch thread made decoding much slower). Training uses torch's default, all cores."""
