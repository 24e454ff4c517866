#!/usr/bin/env bash
# The synthetic held-out-voice suite, ours next to pocketsphinx; the tables go to bench/SYNTHETIC.md.
#
# Usage:
#     bash bench/run.sh            # the full run (~20 minutes on 2 cores)
#     bash bench/run.sh --quick    # smoke run (a few minutes), written to bench/results/
#     bash bench/run.sh --help     # every option of bench/run_all.py
#
# Installs the benchmark's own requirements (pocketsphinx) first; the package itself must be
# installed already (make setup, or pip install -e .).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m pip install -q -r bench/requirements.txt
BENCH_ENTRY="bash bench/run.sh" exec "$PYTHON" bench/run_all.py "$@"
