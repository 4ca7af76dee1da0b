#!/usr/bin/env python3
"""Writes seccomp.json: the container runtime's default seccomp profile, plus bpf() and
perf_event_open() allowed without CAP_SYS_ADMIN.

podman's default profile (containers-common 0.50, Debian 12), like Docker's older ones, allows
these two syscalls only to containers with CAP_SYS_ADMIN and answers EPERM otherwise. Everything
else in the default profile is kept, so this is the tightest profile that still lets the monitor
load its programs with CAP_BPF and CAP_PERFMON (and attach uprobes on kernels that accept
CAP_PERFMON for them, before 6.16; later ones require CAP_SYS_ADMIN, which the default profile
already lets through).

  seccomp-profile.py [DEFAULT_PROFILE] > seccomp.json

DEFAULT_PROFILE defaults to podman's, /usr/share/containers/seccomp.json (Debian's
containers-common). The output is deterministic: the same input gives the same file.
"""
import json
import sys

ALLOWED = ["bpf", "perf_event_open"]


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/containers/seccomp.json"
    with open(source) as f:
        profile = json.load(f)
    rules = []
    for rule in profile["syscalls"]:
        names = [n for n in rule["names"] if n not in ALLOWED]
        # A rule that only named these two would now name nothing: drop it.
        if names:
            rules.append({**rule, "names": names})
    # Two rules for one syscall with different actions are ambiguous to libseccomp, so the
    # syscalls are taken out of the capability-conditioned rules above and allowed here once.
    rules.append(
        {
            "names": ALLOWED,
            "action": "SCMP_ACT_ALLOW",
            "args": [],
            "comment": "monitor: load eBPF programs and attach probes with CAP_BPF/CAP_PERFMON",
            "includes": {},
            "excludes": {},
        }
    )
    profile["syscalls"] = rules
    json.dump(profile, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
