#!/usr/bin/env bash
# A first look at the monitor: serves a small HTTPS API on loopback and calls it three times
# with curl, the last call carrying a FAKE Stripe-style key sent to a host that is not Stripe's,
# so the default policy raises an alert. Nothing leaves the machine.
#
# Usage:
#   scripts/try.sh                  the monitor already runs (scripts/run.sh in another terminal)
#   scripts/try.sh --with-monitor   builds and starts the monitor itself (as root), sends the
#                                   calls, stops it, and prints what it reported about them
#
# Environment: MONITOR_METRICS_ADDR (default 127.0.0.1:9464), where the running monitor is asked
# whether it is ready; MONITOR_BIN, the monitor binary --with-monitor runs (default: install
# with scripts/setup.sh and build with `cargo build --release -p monitor`, as scripts/run.sh
# does); TRY_IT_FAKE_KEY, a key to send instead of a freshly generated one (the tests use it to
# check it never shows).
set -euo pipefail
cd "$(dirname "$0")/.."

HOST=api.shop.test
with_monitor=0
case "${1:-}" in
    "") ;;
    --with-monitor) with_monitor=1 ;;
    -h | --help)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
        exit 0
        ;;
    *)
        echo "unknown argument $1 (try --help)" >&2
        exit 2
        ;;
esac

for program in curl openssl; do
    command -v "$program" >/dev/null || {
        echo "$program is missing: apt-get install -y curl openssl python3" >&2
        exit 1
    }
done
# Debian's interpreter, linked against the system libssl the monitor probes.
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=$(command -v python3) || {
    echo "python3 is missing: apt-get install -y python3" >&2
    exit 1
}

work=$(mktemp -d /tmp/monitor-try.XXXXXX)
server_pid=""
monitor_pid=""
cleanup() {
    local status=$?
    # Only what this script started, by pid. `wait` reports the SIGTERM'd child's status: not
    # this script's.
    for pid in $server_pid $monitor_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT

# The FAKE key: "sk_live_" and 24 random letters and digits, made up on the spot, so it cannot be
# anyone's real key. It has the shape of a Stripe secret key, which is what the detector
# recognises. It is never printed: only its redacted form below.
fake_key=${TRY_IT_FAKE_KEY:-}
while [[ -z $fake_key ]]; do
    # A bounded read, then filtered: no reader closing a pipe early (SIGPIPE under pipefail).
    random=$(head -c 512 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9')
    candidate="sk_live_${random:0:24}"
    ((${#candidate} == 32)) || continue
    # Mixed case and digits: a random-looking key, as the detector expects of a real one.
    [[ $candidate =~ [A-Z] && $candidate =~ [a-z] && ${candidate#sk_live_} =~ [0-9] ]] && fake_key=$candidate
done
redacted_key="sk_live_… (FAKE, ${#fake_key} characters)"

# A throwaway certificate, for this run only.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$HOST" \
    -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1

if ((with_monitor)); then
    if [[ $(id -u) != 0 ]]; then
        echo "--with-monitor loads eBPF programs: run it as root" >&2
        exit 1
    fi
    monitor=${MONITOR_BIN:-}
    if [[ -z $monitor ]]; then
        # As scripts/run.sh does: install what is missing (a second run skips what is there),
        # then the release build `cargo xtask run` makes. Minutes the first time.
        scripts/setup.sh
        export PATH="$HOME/.cargo/bin:$PATH"
        echo "Building the monitor (cargo build --release -p monitor)..."
        cargo build --release -p monitor
        monitor="${CARGO_TARGET_DIR:-target}/release/monitor"
    fi
    # Its own metrics port and fingerprint key, so it cannot collide with a monitor already
    # running.
    "$monitor" run --metrics-addr 127.0.0.1:0 --fingerprint-key "$work/fingerprint.key" \
        >"$work/monitor.out" 2>"$work/monitor.log" &
    monitor_pid=$!
    echo "Starting the monitor (it attaches to every TLS library on the host first)..."
    for _ in $(seq 600); do
        grep -q "monitor ready" "$work/monitor.log" && break
        kill -0 "$monitor_pid" 2>/dev/null || {
            cat "$work/monitor.log" >&2
            exit 1
        }
        sleep 0.2
    done
    grep -q "monitor ready" "$work/monitor.log" || {
        echo "the monitor was not ready within 2 minutes:" >&2
        cat "$work/monitor.log" >&2
        exit 1
    }
else
    metrics_addr=${MONITOR_METRICS_ADDR:-127.0.0.1:9464}
    if ! curl --silent --fail --max-time 2 "http://$metrics_addr/readyz" >/dev/null; then
        echo "Note: no monitor answers on $metrics_addr. Start one in another terminal with" >&2
        echo "scripts/run.sh (or run this script with --with-monitor). Sending the calls anyway." >&2
    fi
fi

"$PYTHON" tests/fixtures/tls_server.py "$work/cert.pem" "$work/key.pem" >"$work/server.out" &
server_pid=$!
port=""
for _ in $(seq 100); do
    port=$(sed -n 's/^PORT //p' "$work/server.out")
    [[ -n $port ]] && break
    sleep 0.1
done
[[ -n $port ]] || {
    echo "the test server did not start" >&2
    exit 1
}
base="https://$HOST:$port"
echo "Serving a small HTTPS API on 127.0.0.1:$port (python3, as $HOST), calling it with curl:"

# --resolve: the name points at loopback for curl only; --insecure: the throwaway certificate.
call() {
    local shown=$1
    shift
    local status
    status=$(curl --silent --show-error --insecure --http1.1 --resolve "$HOST:$port:127.0.0.1" \
        --output /dev/null --write-out '%{http_code}' "$@")
    echo "  $shown -> $status"
}
call "GET  $base/v1/users" "$base/v1/users"
call "POST $base/v1/orders  (JSON body)" \
    --header "Content-Type: application/json" --data '{"item": "book", "quantity": 2}' \
    "$base/v1/orders"
call "GET  $base/v1/balance  (Authorization: Bearer $redacted_key)" \
    --header "Authorization: Bearer $fake_key" "$base/v1/balance"

echo
echo "What to look for in the monitor's output:"
echo "  3 API calls by curl to $HOST:$port (GET /v1/users, POST /v1/orders, GET /v1/balance),"
echo "    each also reported from the server's side (python3)"
echo "  1 alert credential.wrong_destination (critical): a stripe_key sent to $HOST, not to Stripe"
echo "  (and a destination.discovered alert, info, the first time curl calls $HOST)"
echo "The key appears in them only redacted: its kind, prefix, length and a fingerprint."

if ((with_monitor)); then
    # Let the last call's records through, then stop: the monitor flushes everything on SIGTERM.
    sleep 1
    kill -TERM "$monitor_pid"
    wait "$monitor_pid" || true
    monitor_pid=""
    echo
    echo "What the monitor reported about these calls:"
    "$PYTHON" - "$work/monitor.out" "$HOST" "$port" <<'EOF'
import json
import sys

path, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
made, served, rules = 0, 0, set()
for line in open(path):
    event = json.loads(line)
    if event["event"] == "api_call":
        # This script's calls only: the host may be busy with other traffic.
        if event.get("host") != f"{host}:{port}":
            continue
        if event["role"] == "client":
            made += 1
        else:
            served += 1
        print(f'  api_call  {event["role"]:6}  {event["process"]["command"]:8} {event["method"]:4} '
              f'{event["host"]}{event["path"]} -> {event["status"]}')
    elif event["event"] == "alert" and (event.get("destination") or {}).get("host") == host:
        rules.add(event["rule_id"])
        print(f'  alert     {event["rule_id"]} ({event["severity"]}): {event["summary"]}')
        credential = (event.get("evidence") or {}).get("credential")
        if credential:
            print(f"            evidence: {json.dumps(credential)}")
print(f"Seen: {made} calls made, {served} calls served; alerts: {', '.join(sorted(rules)) or 'none'}")
EOF
fi
