#!/bin/sh
# Runs the container's HEALTHCHECK script (deploy/docker/healthcheck) against the real daemon on
# a loopback port: healthy while it serves /-/healthy, unhealthy once it is gone. Also checks
# every shipped config with --config.check.
# usage: healthcheck_test.sh REPO_ROOT SMTP_EXPORTER_BINARY. Exit 77 when bash is missing.
set -u
root=${1:?usage}
binary=${2:?usage}
command -v bash >/dev/null 2>&1 || { echo "bash not found; skipping"; exit 77; }
failed=0
for config in "$root/deploy/smtp_exporter.yml" "$root/deploy/kubernetes/base/smtp_exporter.yml" \
  "$root/deploy/kubernetes/overlays/sharded/smtp_exporter.yml"; do
  if "$binary" --config.file="$config" --config.check; then
    echo "ok   --config.check $config"
  else
    echo "FAIL --config.check $config"
    failed=1
  fi
done

dir=$(mktemp -d)
printf 'targets: []\n' >"$dir/empty.yml"
port=$((20000 + $$ % 20000))
"$binary" --config.file="$dir/empty.yml" --web.listen-address="127.0.0.1:$port" \
  >"$dir/log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
healthy=1
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
  if bash "$root/deploy/docker/healthcheck" "127.0.0.1:$port" >/dev/null; then
    healthy=0
    break
  fi
  sleep 0.25
done
if [ "$healthy" -eq 0 ]; then
  echo "ok   healthcheck: healthy while the exporter runs"
else
  echo "FAIL healthcheck never reported healthy; exporter log:"
  cat "$dir/log"
  failed=1
fi
kill "$pid"
wait "$pid" 2>/dev/null
if bash "$root/deploy/docker/healthcheck" "127.0.0.1:$port"; then
  echo "FAIL healthcheck reported healthy with the exporter stopped"
  failed=1
else
  echo "ok   healthcheck: unhealthy once the exporter stopped"
fi
exit "$failed"
