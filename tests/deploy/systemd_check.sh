#!/bin/sh
# Checks deploy/systemd/smtp_exporter.service offline (no running systemd needed):
#   1. `systemd-analyze verify`: syntax, known directives, executable commands (the unit's
#      /usr/local/bin/smtp_exporter is replaced by the built binary, which must exist);
#   2. `systemd-analyze security --offline=yes`: the exposure score must stay at or below 1.5
#      (of 10; systemd calls < 2 "OK"). Prints the score.
# usage: systemd_check.sh UNIT_FILE SMTP_EXPORTER_BINARY. Exit 77 = systemd-analyze missing.
set -u
unit=${1:?usage: systemd_check.sh UNIT BINARY}
binary=${2:?usage: systemd_check.sh UNIT BINARY}
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "systemd-analyze not found (apt-get install systemd); skipping"
  exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s#/usr/local/bin/smtp_exporter#${binary}#g" "$unit" >"$dir/smtp_exporter.service"
failed=0

if output=$(systemd-analyze verify --man=no "$dir/smtp_exporter.service" 2>&1) && [ -z "$output" ]; then
  echo "ok   systemd-analyze verify: no findings"
else
  echo "FAIL systemd-analyze verify:"
  echo "$output"
  failed=1
fi

for directive in DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
  PrivateTmp=yes CapabilityBoundingSet= "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" \
  SystemCallFilter=@system-service MemoryDenyWriteExecute=yes 'ExecReload=/bin/kill -HUP $MAINPID'; do
  if ! grep -qxF "$directive" "$unit"; then
    echo "FAIL missing hardening line: $directive"
    failed=1
  fi
done

if systemd-analyze security --help 2>&1 | grep -q -- '--offline'; then
  report=$(systemd-analyze security --offline=yes --threshold=15 "$dir/smtp_exporter.service" 2>&1)
  status=$?
  score=$(printf '%s\n' "$report" | grep 'Overall exposure level')
  if [ "$status" -eq 0 ]; then
    echo "ok   ${score#→ }"
  else
    printf '%s\n' "$report" | grep -v '✓'
    echo "FAIL exposure above 1.5: $score"
    failed=1
  fi
else
  echo "note systemd-analyze security has no --offline (systemd < 250); score not checked"
fi
exit "$failed"
