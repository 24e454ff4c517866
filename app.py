"""The demo, from a checkout: ``python app.py [options]`` is ``asr demo [options]`` (see :mod:`asr.apps.demo`)."""

import sys

from asr.cli import main

if __name__ == "__main__":
    main(["demo", *sys.argv[1:]])
