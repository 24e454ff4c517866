#!/usr/bin/env bash
# The GPU checks and figures, for a CUDA machine (the project never needs one; CI has none).
#
#   bash bench/gpu.sh [--manifest M] [--wheels DIR] [--out DIR]
#
#   --manifest  training utterances for the throughput figures (default data/synth/train.jsonl)
#   --wheels    wheels for the packages a bare GPU image lacks (soundfile, librosa...), installed
#               offline into a scratch folder first
#   --out       where to write the figures, one JSON file per measurement (default bench/results/)
#
# 1. tests/test_cuda.py: bf16 autocast against fp32 on the CPU, a GPU run killed and resumed,
#    GPU decoding giving the CPU's transcripts and alignments, `asr transcribe` on the GPU.
# 2. Training throughput (bench/train_speed.py): small.yaml (the BLSTM listener, trained end to
#    end) as it is, then with GPU-sized batches and data-loading workers. (The bundled model trains
#    on cached Whisper states, whose cost is the adapter and speller alone; see RESULTS.md.)
# 3. Greedy decoding of the same manifest with `asr eval --device cuda`, timed.
# Each step runs even when one before it fails; the exit status is that of the first failure.
set -uo pipefail
cd "$(dirname "$0")/.."

MANIFEST=data/synth/train.jsonl WHEELS="" OUT=bench/results
while [ $# -gt 0 ]; do
  case "$1" in
    --manifest) MANIFEST=$2; shift 2 ;;
    --wheels) WHEELS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "gpu.sh: error: unknown argument $1" >&2; exit 2 ;;
  esac
done
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ -n "$WHEELS" ]; then
  $PYTHON -m pip install -q --upgrade --no-index --no-deps --no-compile --no-cache-dir --target /tmp/gpu_site "$WHEELS"/*.whl \
    || { echo "gpu.sh: error: could not install the wheels in $WHEELS" >&2; exit 2; }
  export PYTHONPATH="$PYTHONPATH:/tmp/gpu_site"
fi
nvidia-smi -L || { echo "gpu.sh: error: no NVIDIA GPU here" >&2; exit 2; }
$PYTHON -c "import torch, torchaudio; print('torch', torch.__version__, 'torchaudio', torchaudio.__version__,
            torch.cuda.get_device_name(0), 'CPU cores', __import__('os').cpu_count())"

status=0
step() { "$@" || { rc=$?; echo "gpu.sh: step failed (exit $rc): $*" >&2; [ $status -ne 0 ] || status=$rc; }; }

echo "== 1. tests/test_cuda.py"
step $PYTHON -m pytest -q -p no:cacheprovider tests/test_cuda.py

echo "== 2. training throughput on $MANIFEST"
speed() {  # name, config, overrides...
  local name=$1 config=$2; shift 2
  $PYTHON bench/train_speed.py --config "$config" --steps 30 --warmup-steps 5 "data.train_manifests=[$MANIFEST]" \
      'data.dev_manifest=""' "$@" > "$OUT/gpu_train_$name.json" && echo "$name: $(cat "$OUT/gpu_train_$name.json")"
}
SMALL=recipes/synth/small.yaml
step speed small_as_is $SMALL
step speed small_batch300 $SMALL data.max_batch_seconds=300 data.num_workers=8
step speed small_batch600 $SMALL data.max_batch_seconds=600 data.num_workers=12

echo "== 3. greedy decoding with asr eval --device cuda"
started=$(date +%s%N)
step $PYTHON -m asr eval --manifest "$MANIFEST" --preset fast --device cuda --batch-size 32 --output-dir "$OUT/gpu_eval"
echo "asr eval wall time: $(( ($(date +%s%N) - started) / 1000000 )) ms"
exit $status
