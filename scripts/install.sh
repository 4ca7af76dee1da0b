#!/usr/bin/env bash
# Installs the monitor as a systemd service on this host (docs/deploy.md):
#   /usr/local/bin/monitor                 the binary (built in release mode first if needed)
#   /etc/systemd/system/monitor.service    the unit, deploy/systemd/monitor.service
#   /etc/monitor/policy.yaml               the built-in default policy, only if there is none
#   /var/lib/monitor/fingerprint.key       a random 32-byte key (0600), only if there is none
# then enables and starts the service when systemd runs this host; otherwise prints the commands.
#
# Usage: scripts/install.sh [--root DIR] [--binary FILE]
#   --root DIR     install under DIR instead of / (also: DESTDIR=DIR); nothing is started
#   --binary FILE  install this monitor binary instead of building one
# Run it again to upgrade: the binary and the unit are replaced, the policy and the key are kept.
set -euo pipefail

root="${DESTDIR:-}"
binary=""
while [[ $# -gt 0 ]]; do
    case "$1" in
    --root) root="$2"; shift 2 ;;
    --root=*) root="${1#--root=}"; shift ;;
    --binary) binary="$2"; shift 2 ;;
    --binary=*) binary="${1#--binary=}"; shift ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
# Relative paths are the caller's: resolve them before moving to the checkout.
[[ -n "$root" ]] && root="$(realpath -m "$root")"
[[ "$root" == / ]] && root=""
[[ -n "$binary" ]] && binary="$(realpath -m "$binary")"
cd "$(dirname "$0")/.."

log() { printf '[install] %s\n' "$*" >&2; }

if [[ -z "$binary" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
    target_dir="${CARGO_TARGET_DIR:-target}"
    binary="$target_dir/release/monitor"
    # cargo decides whether anything changed; a second run costs a second.
    log "building the monitor (cargo build --release -p monitor)"
    cargo build --release -p monitor
fi
[[ -x "$binary" ]] || { log "no monitor binary at $binary"; exit 1; }

install -d -m 0755 "$root/usr/local/bin" "$root/etc/systemd/system" "$root/etc/monitor"
# A copy beside the target, then a rename: a running monitor keeps its (old) file, and a
# half-copied binary is never started.
install -m 0755 "$binary" "$root/usr/local/bin/.monitor.new"
mv -f "$root/usr/local/bin/.monitor.new" "$root/usr/local/bin/monitor"
install -m 0644 deploy/systemd/monitor.service "$root/etc/systemd/system/monitor.service"
log "installed $root/usr/local/bin/monitor and $root/etc/systemd/system/monitor.service"

policy="$root/etc/monitor/policy.yaml"
if [[ -e "$policy" ]]; then
    log "kept the existing $policy"
else
    "$binary" policy default >"$policy.new"
    chmod 0644 "$policy.new"
    mv "$policy.new" "$policy"
    log "wrote the default policy to $policy (edit it, then: monitor policy check $policy)"
fi

# The monitor would create the key itself on first start; creating it here lets an operator
# replace it before then (one key for several hosts makes their fingerprints comparable).
install -d -m 0700 "$root/var/lib/monitor"
key="$root/var/lib/monitor/fingerprint.key"
if [[ -e "$key" ]]; then
    log "kept the existing $key"
else
    (umask 077 && head -c 32 /dev/urandom >"$key.new" && mv "$key.new" "$key")
    log "created a random fingerprint key in $key"
fi

next="systemctl daemon-reload && systemctl enable --now monitor"
# /run/systemd/system exists only when systemd is PID 1 (sd_booted(3)).
if [[ -z "$root" && -d /run/systemd/system ]]; then
    log "$next"
    systemctl daemon-reload
    # An upgrade: enable --now would leave a running monitor on the old binary.
    systemctl try-restart monitor
    systemctl enable --now monitor
    log "running; alerts: journalctl -u monitor -f, or /var/log/monitor/alerts.jsonl"
else
    log "next step (as root, on the host that boots this root): $next"
fi
