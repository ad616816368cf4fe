#!/usr/bin/env bash
# Run the test suite from a fresh machine: install, get Debian's chromium for the
# browser tests when apt is available, then pytest. Extra arguments go to pytest.
#   bash scripts/test.sh            # fast suite + browser tests
#   bash scripts/test.sh -m slow    # the long checks
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core) \
    >/tmp/tensorboard-dvi-apt.log 2>&1 || echo "chromium could not be installed: browser tests will skip"
fi
# Node runs the tab's tests of its pure modules (tests/js, via tests/test_frontend_js.py).
if ! command -v node >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs) \
    >/tmp/tensorboard-dvi-apt-node.log 2>&1 || echo "nodejs could not be installed: the tab's Node tests will skip"
fi
exec .venv/bin/python -m pytest "$@"
