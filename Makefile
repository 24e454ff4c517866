# Everything a fresh Debian machine needs, as root. `make demo` and `make test` set up first.
# Python packages go into .venv (it can see packages already installed system-wide, so a
# machine that has torch 2.11 doesn't download it again).
SYSTEM_PYTHON ?= python3
VENV = .venv
PYTHON = $(VENV)/bin/python
APT_PACKAGES = python3-venv libportaudio2 libsndfile1 espeak-ng flite ffmpeg sox fortunes fortunes-min \
               wamerican chromium alsa-utils asterisk-core-sounds-en asterisk-core-sounds-en-wav \
               festival festvox-kdlpc16k festvox-us-slt-hts

.PHONY: setup system python demo test test-fast bundle bench

system:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); fi

$(PYTHON):
	$(SYSTEM_PYTHON) -m venv --system-site-packages $(VENV)

# Installs only when pyproject.toml changed since the last install (or the venv is new).
INSTALLED = $(VENV)/.installed
$(INSTALLED): pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install -q --disable-pip-version-check -e ".[synth,test]"
	touch $@

python: $(INSTALLED)

setup: system python

demo: setup
	$(VENV)/bin/asr demo

test: setup
	$(PYTHON) -m pytest -q --durations=15

test-fast: setup
	$(PYTHON) -m pytest -q -m "not slow"

# The bundled model end to end (corpus, Whisper's weights, states, training, LM, evaluation).
bundle: setup
	bash recipes/synth/run.sh

# The first figures of BENCHMARKS.md: accuracy on people, held-out voices and long-form audio beside
# Whisper tiny.en and pocketsphinx, with the mixed dev criterion; speed and memory; start-up. The
# live latency and the punctuator's scores have their own commands (BENCHMARKS.md names them).
# The held-out voices need the synth corpus (stage 1 of recipes/synth/run.sh: test_natural, longform);
# without it those sets are named and left out.
bench: setup
	$(PYTHON) -m pip install -q --disable-pip-version-check -r bench/requirements.txt -e ".[pretrained]"
	$(PYTHON) recipes/asterisk/prepare.py --out data/asterisk
	$(PYTHON) recipes/people/prepare.py --out data/people
	if [ -f data/synth/test_natural.jsonl ]; then $(PYTHON) recipes/synth/longform.py --out data/synth; fi
	$(PYTHON) bench/human.py
	$(PYTHON) bench/speed.py
