#!/usr/bin/env bash
# The main job: install, train the two MNIST demo runs (clean and 20 % noisy labels),
# then start TensorBoard on 127.0.0.1 with the DVI tab. The DVI visualizer is fitted
# lazily in the background when you open a run in the tab.
#   bash scripts/demo.sh            # PORT=6006 by default; RETRAIN=1 to train again
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
LOGDIR=demo/runs
if [ "${RETRAIN:-0}" = 1 ] || [ ! -d "$LOGDIR/noisy/plugins/dvi/epochs/epoch-000010" ]; then
  .venv/bin/python demo/train_mnist.py --logdir "$LOGDIR"
fi
echo "Open http://127.0.0.1:${PORT:-6006}/#dvi"
exec .venv/bin/tensorboard --logdir "$LOGDIR" --host 127.0.0.1 --port "${PORT:-6006}"
