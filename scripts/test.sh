#!/usr/bin/env bash
# One command from a fresh machine to the whole test suite: installs what is missing (toolchain
# and the programs the end-to-end tests drive), then runs `cargo xtask test`. Run as root: the
# end-to-end tests load eBPF programs (outside CI they skip themselves without root).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export PATH="$HOME/.cargo/bin:$PATH"
exec cargo xtask test "$@"
