#!/usr/bin/env bash
# bench/compare.sh: /probe side by side, Debian's prometheus-blackbox-exporter against
# smtp_exporter, in one run against the same bench/smtp_responder (issue 9 goals 5 and 6). Not a
# test; CI runs it only in its tiny smoke form (bench/smoke_test.sh).
#
# For each exporter, module (banner: 220, EHLO, QUIT; tls: STARTTLS with the certificate
# verified against the responder's CA, EHLO again, QUIT) and concurrency (1, 50, 500, 2,000
# persistent connections of bench/probe_load), a fresh exporter process is started, driven for
# WINDOW seconds, and measured:
#
#   probes/s     200 answers per second (probe_load: time to the last answer)
#   cpu_ms/pr    the exporter's utime+stime (/proc/PID/stat) from just before the load starts to
#                just after it ends, divided by the 200 answers
#   ratio        that figure divided by blackbox's for the same module and concurrency
#   hwm_MiB      peak RSS of the exporter process (VmHWM), fresh per cell
#   http_err     non-200 answers + connection resets, early EOFs and failed connects
#                (+ requests still unanswered DRAIN seconds after the window, shown apart)
#   lat_err      |greeting duration - banner delay| in ms, mean and p99 over the 200 answers:
#                smtp_exporter's smtp_probe_step_duration_seconds{step="greeting"}; blackbox has
#                no per-step time, so its probe_duration_seconds (the whole dialogue: for tls the
#                handshake and a second EHLO too; ~1-6 ms more at idle)
#   ok%          200 answers whose probe succeeded (smtp_probe_success / probe_success = 1)
#
# Everything runs in a new network namespace that has only lo (unshare -n, then
# `ip link set lo up`), so no packet can leave the machine. Each cell is bounded (WINDOW + DRAIN
# seconds); every process started here is stopped on exit.
#
# Environment: WINDOW (seconds per cell, default 20), CONCURRENCY (default "1 50 500 2000"),
# MODULES (default "banner tls"), DRAIN (default 15), BANNER_DELAY_MS (default 100),
# BUILD_DIR (default <repo>/build-bench), SKIP_BUILD=1 (use the binaries in BUILD_DIR, or those
# named by SMTP_EXPORTER, SMTP_RESPONDER, PROBE_LOAD), BLACKBOX (default
# prometheus-blackbox-exporter from PATH; the column is skipped when it is missing, unless
# REQUIRE_BLACKBOX=1), SMTP_EXPORTER_FLAGS (extra daemon flags, e.g. a connection cap).
# Needs: root (unshare -n), iproute2, curl, python3; cmake, ninja, g++ unless SKIP_BUILD=1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
enter_netns "$@"

BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
WINDOW=${WINDOW:-20}
CONCURRENCY=${CONCURRENCY:-"1 50 500 2000"}
MODULES=${MODULES:-"banner tls"}
DRAIN=${DRAIN:-15}
BANNER_DELAY_MS=${BANNER_DELAY_MS:-100}
SMTP_EXPORTER=${SMTP_EXPORTER:-$BUILD_DIR/daemon/smtp_exporter}
SMTP_RESPONDER=${SMTP_RESPONDER:-$BUILD_DIR/bench/smtp_responder}
PROBE_LOAD=${PROBE_LOAD:-$BUILD_DIR/bench/probe_load}
BLACKBOX=${BLACKBOX:-$(command -v prometheus-blackbox-exporter || true)}
SMTP_EXPORTER_FLAGS=${SMTP_EXPORTER_FLAGS:-}
SMTP_PORT=2525
TARGET=127.1.0.1:$SMTP_PORT
SE_PORT=19025
BB_PORT=19115
WORK=$(mktemp -d /tmp/smtp-compare.XXXXXX)
HZ=$(getconf CLK_TCK)

RESPONDER_PID=""
EXPORTER_PID=""

cleanup() {
  stop_pid "$EXPORTER_PID"
  stop_pid "$RESPONDER_PID"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  log "building Release in $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DSMTP_EXPORTER_TESTS=OFF -DSMTP_EXPORTER_BENCH=ON >"$WORK/cmake.log" 2>&1 || { cat "$WORK/cmake.log"; exit 1; }
  cmake --build "$BUILD_DIR" --target smtp_exporter smtp_responder probe_load -j"$(nproc)" \
    >"$WORK/build.log" 2>&1 || { tail -50 "$WORK/build.log"; exit 1; }
fi
for binary in "$SMTP_EXPORTER" "$SMTP_RESPONDER" "$PROBE_LOAD"; do
  [[ -x $binary ]] || { log "missing $binary (build it, or unset SKIP_BUILD)"; exit 1; }
done
EXPORTERS="blackbox smtp_exporter"
if [[ -z $BLACKBOX || ! -x $BLACKBOX ]]; then
  [[ ${REQUIRE_BLACKBOX:-0} == 1 ]] && { log "prometheus-blackbox-exporter not found"; exit 1; }
  log "prometheus-blackbox-exporter not installed: its column is skipped"
  EXPORTERS="smtp_exporter"
fi

# --- the far end and the two configs -------------------------------------------------------------
"$SMTP_RESPONDER" --first-address 127.1.0.1 --count 1 --port "$SMTP_PORT" \
  --banner-delay-ms "$BANNER_DELAY_MS" --write-cert "$WORK/ca.pem" --max-seconds 86400 \
  2>"$WORK/responder.log" &
RESPONDER_PID=$!
for _ in $(seq 100); do
  grep -q listening "$WORK/responder.log" && break
  sleep 0.1
done
grep -q listening "$WORK/responder.log" || { cat "$WORK/responder.log" >&2; exit 1; }

cat >"$WORK/smtp_exporter.yml" <<EOF
# /probe only: no scheduled targets; the allowlist admits the responder's address and port.
modules:
  banner: {timeout: 10s, ehlo_name: bench-client.test, starttls: "off"}
  tls:
    timeout: 10s
    ehlo_name: bench-client.test
    starttls: required
    tls: {verify: true, server_name: bench.test, ca_file: "$WORK/ca.pem"}
probe_allowlist: ["127.1.0.1/32:$SMTP_PORT"]
EOF

# blackbox 0.23's tcp prober: query_response is a list of expect / send / starttls steps; an
# expect reads lines until one matches (so "^250 " skips the 250- continuation lines); send
# appends "\n", hence the "\r" for SMTP's CRLF (RFC 5321 section 2.3.8).
cat >"$WORK/blackbox.yml" <<EOF
modules:
  banner:
    prober: tcp
    timeout: 10s
    tcp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      query_response:
        - expect: "^220 "
        - send: "EHLO bench-client.test\r"
        - expect: "^250 "
        - send: "QUIT\r"
        - expect: "^221 "
  tls:
    prober: tcp
    timeout: 10s
    tcp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      query_response:
        - expect: "^220 "
        - send: "EHLO bench-client.test\r"
        - expect: "^250-STARTTLS"
        - expect: "^250 "
        - send: "STARTTLS\r"
        - expect: "^220 "
        - starttls: true
        - send: "EHLO bench-client.test\r"
        - expect: "^250 "
        - send: "QUIT\r"
        - expect: "^221 "
      tls_config:
        ca_file: "$WORK/ca.pem"
        server_name: bench.test
EOF


start_exporter() {  # start_exporter NAME -> EXPORTER_PID, PORT
  stop_pid "$EXPORTER_PID"
  if [[ $1 == blackbox ]]; then
    PORT=$BB_PORT
    "$BLACKBOX" --config.file "$WORK/blackbox.yml" --web.listen-address "127.0.0.1:$PORT" \
      --log.level warn 2>"$WORK/exporter.log" &
  else
    PORT=$SE_PORT
    # shellcheck disable=SC2086  # SMTP_EXPORTER_FLAGS is a list of flags
    "$SMTP_EXPORTER" --config.file "$WORK/smtp_exporter.yml" --web.listen-address \
      "127.0.0.1:$PORT" --log.level warn $SMTP_EXPORTER_FLAGS 2>"$WORK/exporter.log" &
  fi
  EXPORTER_PID=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/metrics" && return 0
    kill -0 "$EXPORTER_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$WORK/exporter.log" >&2
  log "$1 did not start"
  exit 1
}

declare -A R  # R[exporter.module.concurrency.key]

run_cell() {  # run_cell EXPORTER MODULE CONCURRENCY
  local exporter=$1 module=$2 c=$3 key="$1.$2.$3" metric success c0 c1 out ok
  start_exporter "$exporter"
  if [[ $exporter == blackbox ]]; then
    metric=probe_duration_seconds success=probe_success
  else
    metric='smtp_probe_step_duration_seconds{step="greeting"}' success=smtp_probe_success
  fi
  # One probe first, so that a module that cannot succeed stops the run instead of being timed.
  local first
  first=$(curl -sf -H 'X-Prometheus-Scrape-Timeout-Seconds: 10' \
    "http://127.0.0.1:$PORT/probe?target=$TARGET&module=$module" || true)
  if ! grep -q "^$success 1" <<<"$first"; then
    log "$exporter/$module: the first probe did not succeed"
    curl -s "http://127.0.0.1:$PORT/probe?target=$TARGET&module=$module&debug=true" | head -40 >&2
    exit 1
  fi
  c0=$(ticks "$EXPORTER_PID")
  out=$("$PROBE_LOAD" --url-host 127.0.0.1 --port "$PORT" \
    --path "/probe?target=$TARGET&module=$module" --concurrency "$c" --duration "$WINDOW" \
    --drain "$DRAIN" --header 'X-Prometheus-Scrape-Timeout-Seconds: 10' --metric "$metric" \
    --expect-seconds "$(calc "$BANNER_DELAY_MS / 1000.0")" --success-metric "$success")
  c1=$(ticks "$EXPORTER_PID")
  R[$key.hwm_kib]=$(kib "$EXPORTER_PID" VmHWM)
  R[$key.load]=$(cut -d' ' -f1 /proc/loadavg)
  stop_pid "$EXPORTER_PID"
  EXPORTER_PID=""
  echo "$key $out" >>"$WORK/probe_load.out"
  ok=$(field status_200 <<<"$out")
  ok=${ok:-0}
  R[$key.ok]=$ok
  R[$key.rate]=$(calc "round($ok / max(1e-9, $(field seconds <<<"$out")), 1)")
  R[$key.cpu_ms]=$(calc "round(($c1 - $c0) * 1000.0 / $HZ / max(1, $ok), 3)")
  R[$key.http_err]=$(calc "$(field answers <<<"$out") - $ok + $(field errors <<<"$out")")
  R[$key.resets]=$(field resets <<<"$out")
  R[$key.unfinished]=$(field unfinished <<<"$out")
  R[$key.p50]=$(field p50_ms <<<"$out")
  R[$key.p99]=$(field p99_ms <<<"$out")
  R[$key.err_mean]=$(field err_mean_ms <<<"$out")
  R[$key.err_p99]=$(field err_p99_ms <<<"$out")
  R[$key.ok_pct]=$(calc "round(100.0 * $(field success <<<"$out") / max(1, $ok), 1)")
  log "$exporter $module c=$c: ${R[$key.rate]} probes/s, ${R[$key.cpu_ms]} ms CPU/probe," \
    "http errors ${R[$key.http_err]} (resets ${R[$key.resets]}), unfinished" \
    "${R[$key.unfinished]}, greeting error mean ${R[$key.err_mean]} ms; load ${R[$key.load]}"
}

log "work dir $WORK; window ${WINDOW}s, concurrency $CONCURRENCY, modules $MODULES;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
for module in $MODULES; do
  for c in $CONCURRENCY; do
    for exporter in $EXPORTERS; do run_cell "$exporter" "$module" "$c"; done
  done
done

# --- table ---------------------------------------------------------------------------------------
v() { echo "${R[$1]:-n/a}"; }
echo
echo "/probe side by side: $(nproc) cores, $(uname -r), banner delay ${BANNER_DELAY_MS} ms," \
  "window ${WINDOW} s per cell, $(date -u +%FT%TZ)"
echo "smtp_exporter $("$SMTP_EXPORTER" --version 2>&1 | head -1);" \
  "blackbox $([[ -n $BLACKBOX && -x $BLACKBOX ]] && "$BLACKBOX" --version 2>&1 | head -1 || echo absent)"
echo
printf '%-13s %-6s %5s %9s %9s %6s %8s %9s %6s %9s %9s %9s %9s %6s %6s\n' exporter module conc \
  probes/s cpu_ms/pr ratio hwm_MiB http_err unans lat_p50ms lat_p99ms lerr_mean lerr_p99 ok% load1
for module in $MODULES; do
  for c in $CONCURRENCY; do
    for exporter in $EXPORTERS; do
      key=$exporter.$module.$c
      [[ -n ${R[$key.rate]:-} ]] || continue
      ratio=n/a
      if [[ -n ${R[blackbox.$module.$c.cpu_ms]:-} ]]; then
        ratio=$(calc "round(${R[$key.cpu_ms]} / max(1e-9, ${R[blackbox.$module.$c.cpu_ms]}), 2)")
      fi
      printf '%-13s %-6s %5s %9s %9s %6s %8s %9s %6s %9s %9s %9s %9s %6s %6s\n' "$exporter" \
        "$module" "$c" "$(v "$key.rate")" "$(v "$key.cpu_ms")" "$ratio" \
        "$(calc "round(${R[$key.hwm_kib]} / 1024, 1)")" "$(v "$key.http_err")" \
        "$(v "$key.unfinished")" "$(v "$key.p50")" "$(v "$key.p99")" "$(v "$key.err_mean")" \
        "$(v "$key.err_p99")" "$(v "$key.ok_pct")" "$(v "$key.load")"
    done
  done
done
echo "(cpu_ms/pr: utime+stime of the exporter over the run / 200 answers, ${HZ} ticks/s; ratio: to"
echo " blackbox's for the same cell; http_err: non-200 answers + resets/early EOFs/failed connects;"
echo " unans: requests unanswered ${DRAIN} s after the window; lat: /probe HTTP latency; lerr:"
echo " |greeting - ${BANNER_DELAY_MS} ms| for smtp_exporter, |probe_duration_seconds - ${BANNER_DELAY_MS} ms| for"
echo " blackbox (whole dialogue); ok%: answers with probe success 1; load1 at the end of the cell)"
echo "goals (issue 9): ratio <= 0.3 banner, <= 0.5 tls; zero http_err where blackbox has zero;"
echo " at 500 concurrent, every greeting within 5 ms of ${BANNER_DELAY_MS} ms"
echo "raw probe_load lines and logs: $WORK"
