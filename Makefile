# Everything a fresh Debian machine needs, as root. `make demo` and `make test` set up first.
PYTHON ?= python3
APT_PACKAGES = libportaudio2 libsndfile1 espeak-ng flite ffmpeg sox fortunes fortunes-min wamerican \
               chromium alsa-utils

.PHONY: setup system python demo test test-fast corpus train

system:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); fi

python:
	$(PYTHON) -m pip install -q -e ".[synth,test]"

setup: system python

demo: setup
	$(PYTHON) app.py

test: setup
	$(PYTHON) -m pytest -q

test-fast: setup
	$(PYTHON) -m pytest -q -m "not slow"

corpus: setup
	$(PYTHON) recipes/synth/prepare.py --out data/synth

train: setup
	asr train --config recipes/synth/small.yaml
