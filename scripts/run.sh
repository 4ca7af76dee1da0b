#!/usr/bin/env bash
# One command from a fresh machine to a running monitor: installs what is missing, builds, and
# runs `monitor run` (as root) with the built-in defaults. Extra arguments go to `monitor run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
exec cargo xtask run "$@"
