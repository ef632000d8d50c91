#!/usr/bin/env bash
# Runs "$@" in a network namespace of its own whose only interface is lo, brought up: whatever
# the command starts (the daemon, MTAs, Prometheus, Chromium) can reach 127.0.0.0/8 and ::1 and
# nothing else, so no test traffic can leave the machine even by mistake (a browser's
# reachability check, a wrong address in a config). Every test that starts a daemon or a browser
# runs under it (tests/CMakeLists.txt). Needs CAP_SYS_ADMIN (root, as CI runs); elsewhere set
# SMTP_EXPORTER_NO_NETNS=1 to run on the host's network knowingly.
set -euo pipefail
if [[ "${SMTP_EXPORTER_NETNS:-}" == 1 ]]; then exec "$@"; fi  # already inside one
if [[ "${SMTP_EXPORTER_NO_NETNS:-}" == 1 ]]; then
  echo "netns.sh: SMTP_EXPORTER_NO_NETNS=1: running on the host's network" >&2
  exec "$@"
fi
if ! unshare --net true 2>/dev/null; then
  echo "netns.sh: cannot create a network namespace (unshare --net needs root);" \
    "set SMTP_EXPORTER_NO_NETNS=1 to run on the host's network" >&2
  exit 1
fi
exec unshare --net -- env SMTP_EXPORTER_NETNS=1 bash -c \
  'ip link set lo up && exec "$@"' netns.sh "$@"
