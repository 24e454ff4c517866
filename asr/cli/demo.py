"""Start the web demo: speak or upload English and watch the model attend.

Usage:
    asr demo                                  # the bundled checkpoint, http://127.0.0.1:7860
    asr demo --checkpoint exp/whisper_tiny/with_lm.pt --port 8080
"""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", help="checkpoint to load first (default: the bundled one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    parser.add_argument("--concurrency", type=int, default=2,
                        help="clips decoded at once (the rest wait in the queue); also the processes per "
                             "checkpoint that decode live microphone streams")


def run(args) -> int:
    if args.concurrency < 1:
        print("asr demo: --concurrency must be at least 1")
        return 2
    from asr.apps.demo import serve

    serve(args)
    return 0
