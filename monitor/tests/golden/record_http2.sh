#!/bin/bash
# Re-records monitor/tests/golden/replay_http2.{rec,jsonl} (root; nghttpd, curl with HTTP/2, the
# h2 Python package of the end-to-end tests). Takes about 15 s. Run it when the host is quiet:
# the recording is then filtered to the processes this script starts, but the live output
# (the expected file) is the monitor's whole stdout.
#
#   monitor/tests/golden/record_http2.sh [MONITOR_BINARY]
#
# Traffic, all on 127.0.0.1: curl --http2 over TLS to nghttpd, 3 URLs on one connection;
# curl --http2-prior-knowledge to nghttpd --no-tls; curl --http2 http:// (Upgrade: h2c) to
# tests/fixtures/h2/upgrade_server.py; curl --http2 over TLS with a fake GitHub token in
# `Authorization` (the built-in policy raises credential.wrong_destination on both sides).
# Fingerprint key: the golden test's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
mon=${1:-${CARGO_TARGET_DIR:-$repo/target}/debug/monitor}
dir=$(mktemp -d)
cd "$dir"
mkdir www
printf '{"a":1}\n' >www/a.json
printf '{"b":2}\n' >www/b.json
printf '{"c":3}\n' >www/c.json
printf 'golden-test-key-golden-test-key!' >fp.key
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -keyout key.pem -out cert.pem 2>/dev/null
# Not a real token: the GitHub format (ghp_ and 36 letters and digits) so the detector fires.
token=ghp_FakeGoldenReplay0Token1NotReal2xY3z4

nghttpd -d www 18901 key.pem cert.pem >/dev/null 2>&1 &
servers=$!
nghttpd -d www --no-tls 18902 >/dev/null 2>&1 &
servers="$servers $!"
PYTHONPATH=${H2_PYTHONPATH:-$HOME/.cache/monitor-test-deps/h2-python} \
    python3 "$repo/tests/fixtures/h2/upgrade_server.py" 18903 >/dev/null 2>&1 &
servers="$servers $!"
sleep 1

"$mon" record --out full.rec --fingerprint-key fp.key --metrics-addr 127.0.0.1:0 \
    --rescan-interval 3600 --coverage-interval 3600 >live.jsonl 2>monitor.log &
monitor=$!
for _ in $(seq 1 600); do grep -q "monitor ready" monitor.log && break; sleep 0.2; done
sleep 0.5

clients=""
curl -sS --http2 -k https://127.0.0.1:18901/a.json https://127.0.0.1:18901/b.json \
    https://127.0.0.1:18901/c.json >/dev/null &
clients="$clients $!"; wait $!; sleep 0.3
curl -sS --http2-prior-knowledge http://127.0.0.1:18902/a.json >/dev/null &
clients="$clients $!"; wait $!; sleep 0.3
curl -sS --http2 http://127.0.0.1:18903/upgrade >/dev/null &
clients="$clients $!"; wait $!; sleep 0.3
curl -sS --http2 -k -H "Authorization: Bearer $token" https://127.0.0.1:18901/b.json >/dev/null &
clients="$clients $!"; wait $!; sleep 1

kill -TERM $monitor; wait $monitor
# shellcheck disable=SC2086
kill -TERM $servers; wait || true

keep=$(echo $servers $clients | tr ' ' ',')
python3 "$here/filter_recording.py" filter full.rec "$here/replay_http2.rec" "$keep"
cp live.jsonl "$here/replay_http2.jsonl"
"$mon" replay "$here/replay_http2.rec" --fingerprint-key fp.key 2>/dev/null | diff live.jsonl - \
    && echo "the filtered recording replays the live output line for line"
rm -rf "$dir"
