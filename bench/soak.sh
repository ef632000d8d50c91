#!/usr/bin/env bash
# bench/soak.sh: the soak benchmark (issue 13, "Reliability, measured"). Not a test; CI runs only
# the few-second smoke size (bench/smoke_test.sh).
#
#   bench/soak.sh [PROBES]        # default 1000000: about 17 minutes at 1,000 probes/s
#   bench/soak.sh 2000            # the smoke size: about half a minute with the build done
#
# The daemon probes bench/soak_server, one process that plays eight hostile SMTP servers on
# loopback (silence, drip, a 10 MB line, garbage, resets, TLS garbage after STARTTLS, a catch-all
# that accepts any local part at its own names, a tarpit that stops answering at MAIL or RCPT;
# see soak_server.cc), through TARGETS targets (equally many per scenario) with a short module
# timeout and interval, until smtp_exporter_probes_total reaches PROBES. Meanwhile
# bench/soak_monitor.py scrapes /metrics and / once a second and samples the daemon's RSS, file
# descriptors and CPU; it prints one row at 0, 25, 50, 75 and 100 % of the probes. Then this
# script checks, and exits 1 when any check fails:
#
#   deadline   no probe over its deadline, measured twice: the daemon's own
#              smtp_probe_duration_seconds of every probe seen on /metrics (deduplicated by
#              smtp_probe_last_run_timestamp_seconds), and soak_server's lifetime of every TCP
#              session, from accept to the client's FIN or RST (no socket outlives its probe);
#              the deadline is the module timeout, plus relay_test.timeout for the two scenarios
#              whose module runs the relay test, plus MARGIN_MS
#   no DATA    soak_server logs every line it receives outside TLS; no line's first word is DATA
#              or BDAT (counted from the log here, and by soak_server itself)
#   flat       VmRSS growth from 25 % to 100 % of the probes <= MAX_RSS_GROWTH_PCT, and the
#              median fd count over the 30 s before each row grows by <= MAX_FD_GROWTH
#   catch-all  the relay test never calls the catch-all (or the tarpit) an open relay
#   scrapes    every GET /metrics and GET / answered 200 within 10 s
#   alive      the daemon ran to the end (no crash) and every session ended (none hit the cap)
#
# Everything runs in a network namespace of its own with nothing but lo (the script re-executes
# itself under `unshare -n`): soak_server listens on 0.0.0.0 (ports PORT_BASE..PORT_BASE+7; it
# refuses to start where any interface but lo exists) and the targets are 127.20-27.x.y.
#
# Environment: TARGETS (2000), INTERVAL_S (2: each target's interval, seconds), TIMEOUT_S (1:
# module timeout), RELAY_TIMEOUT_S (1), MARGIN_MS (250), MAX_RSS_GROWTH_PCT (10), MAX_FD_GROWTH
# (100), HTTP_PORT (19125), PORT_BASE (2600), DRIP_MS (100), BUILD_DIR (<repo>/build-bench),
# SKIP_BUILD=1 with SMTP_EXPORTER and SOAK_SERVER (binaries), WORK (a directory for logs; default
# a new /tmp/smtp-soak.*). Needs root (unshare -n), iproute2, cmake, ninja, g++, python3.
# Run it niced on a shared machine: `nice -n 10 bench/soak.sh 1000000`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
enter_netns "$@"
# The rest is one compound command, read whole before it runs: editing this file during a run
# (bash otherwise reads a script as it goes) cannot change the run.
{
PROBES=${1:-1000000}
[[ $PROBES =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [PROBES]" >&2; exit 2; }
TARGETS=${TARGETS:-2000}
INTERVAL_S=${INTERVAL_S:-2}
TIMEOUT_S=${TIMEOUT_S:-1}
RELAY_TIMEOUT_S=${RELAY_TIMEOUT_S:-1}
MARGIN_MS=${MARGIN_MS:-250}
MAX_RSS_GROWTH_PCT=${MAX_RSS_GROWTH_PCT:-10}
MAX_FD_GROWTH=${MAX_FD_GROWTH:-100}
HTTP_PORT=${HTTP_PORT:-19125}
PORT_BASE=${PORT_BASE:-2600}
DRIP_MS=${DRIP_MS:-100}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
WORK=${WORK:-$(mktemp -d /tmp/smtp-soak.XXXXXX)}
mkdir -p "$WORK"
exec > >(tee "$WORK/report.txt")  # the report is also kept with the logs
TEE_PID=$!
EXPORTER=${SMTP_EXPORTER:-$BUILD_DIR/daemon/smtp_exporter}
SERVER=${SOAK_SERVER:-$BUILD_DIR/bench/soak_server}
URL=http://127.0.0.1:$HTTP_PORT
SCENARIOS=(silence drip longline garbage reset tlsgarbage catchall tarpit)
# Expected rate TARGETS / INTERVAL_S; give up at three times the expected run time.
MAX_SECONDS=$((PROBES * INTERVAL_S * 3 / TARGETS + 120))

DAEMON_PID=""
SERVER_PID=""
cleanup() {
  stop_pid "$DAEMON_PID"
  stop_pid "$SERVER_PID"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  log "building Release in $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DSMTP_EXPORTER_TESTS=OFF -DSMTP_EXPORTER_BENCH=ON >"$WORK/cmake.log" 2>&1 ||
    { cat "$WORK/cmake.log"; exit 1; }
  cmake --build "$BUILD_DIR" --target smtp_exporter soak_server -j"$(nproc)" \
    >"$WORK/build.log" 2>&1 || { tail -50 "$WORK/build.log"; exit 1; }
fi

# --- config: TARGETS targets, the same number per scenario ---------------------------------------
# Scenario k is port PORT_BASE+k; its targets are 127.(20+k).x.y, one address each. The catch-all
# and the tarpit run the relay test (every variant, at every probe: relay interval = interval).
per=$(((TARGETS + ${#SCENARIOS[@]} - 1) / ${#SCENARIOS[@]}))
{
  echo "modules:"
  echo "  hostile: {timeout: ${TIMEOUT_S}s, ehlo_name: soak-client.test, starttls: \"off\"}"
  echo "  tls:"
  echo "    timeout: ${TIMEOUT_S}s"
  echo "    ehlo_name: soak-client.test"
  echo "    starttls: required"
  echo "    tls: {verify: false}"
  echo "  relay:"
  echo "    timeout: ${TIMEOUT_S}s"
  echo "    ehlo_name: soak-client.test"
  echo "    starttls: \"off\""
  echo "    relay_test: {enabled: true, interval: ${INTERVAL_S}s, timeout: ${RELAY_TIMEOUT_S}s, variants: all}"
  echo "targets:"
  for k in "${!SCENARIOS[@]}"; do
    case ${SCENARIOS[$k]} in
      tlsgarbage) module=tls ;;
      catchall | tarpit) module=relay ;;
      *) module=hostile ;;
    esac
    for ((i = 0; i < per; i++)); do
      echo "  - {address: \"127.$((20 + k)).$((i / 250)).$((i % 250 + 1)):$((PORT_BASE + k))\", module: $module, interval: ${INTERVAL_S}s}"
    done
  done
} >"$WORK/soak.yml"
deadline_args=()
for scenario in "${SCENARIOS[@]}"; do
  case $scenario in
    catchall | tarpit) d=$((TIMEOUT_S + RELAY_TIMEOUT_S)) ;;
    *) d=$TIMEOUT_S ;;
  esac
  deadline_args+=(--deadline "$scenario=$d")
done

# --- run -----------------------------------------------------------------------------------------
"$SERVER" --port-base "$PORT_BASE" --log "$WORK/commands.log" --stats "$WORK/server.stats" \
  --drip-ms "$DRIP_MS" --session-cap-ms 30000 --max-seconds $((MAX_SECONDS + 120)) \
  2>"$WORK/server.log" &
SERVER_PID=$!
"$EXPORTER" --config.file "$WORK/soak.yml" --web.listen-address "127.0.0.1:$HTTP_PORT" \
  --probe.max-in-flight $((TARGETS * 2)) >"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do
  curl -sf -o /dev/null "$URL/-/healthy" && break
  kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$WORK/daemon.log" >&2; exit 1; }
  sleep 0.1
done
log "soak: $PROBES probes, $((per * ${#SCENARIOS[@]})) targets ($per per scenario), interval" \
  "${INTERVAL_S}s, timeout ${TIMEOUT_S}s (+${RELAY_TIMEOUT_S}s relay), work dir $WORK," \
  "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "smtp_exporter soak: $PROBES probes, $((per * ${#SCENARIOS[@]})) targets, interval" \
  "${INTERVAL_S} s, timeout ${TIMEOUT_S} s (+${RELAY_TIMEOUT_S} s relay test), $(nproc) cores," \
  "$(date -u +%FT%TZ), $(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
start=$(date +%s)
monitor_status=0
python3 "$(dirname "${BASH_SOURCE[0]}")/soak_monitor.py" --url "$URL" --pid "$DAEMON_PID" \
  --probes "$PROBES" --port-base "$PORT_BASE" "${deadline_args[@]}" \
  --margin "$(calc "$MARGIN_MS / 1000")" --max-seconds "$MAX_SECONDS" \
  --server-stats "$WORK/server.stats" --summary "$WORK/summary.txt" \
  --save-scrape "$WORK/last.prom" --samples "$WORK/samples.txt" || monitor_status=$?
daemon_alive=0
kill -0 "$DAEMON_PID" 2>/dev/null && daemon_alive=1
server_alive=0
kill -0 "$SERVER_PID" 2>/dev/null && server_alive=1
stop_pid "$DAEMON_PID"
DAEMON_PID=""
sleep 1  # sessions the daemon's exit closed are ended and logged
stop_pid "$SERVER_PID"
SERVER_PID=""
run_seconds=$(($(date +%s) - start))

# --- checks --------------------------------------------------------------------------------------
failed=0
check() {  # check NAME OK(0|1) DETAIL
  if [[ $2 == 1 ]]; then echo "PASS $1: $3"; else echo "FAIL $1: $3"; failed=1; fi
}
s() {  # s KEY [DEFAULT, 0 unless given]: a value from the monitor's summary
  local v
  v=$(sed -n "s/^$1=//p" "$WORK/summary.txt")
  echo "${v:-${2-0}}"
}
echo
echo "server side (soak_server, every session; lifetime = accept to the client's FIN/RST):"
awk -v margin="$MARGIN_MS" -v t="$TIMEOUT_S" -v r="$RELAY_TIMEOUT_S" '
  $1 == "E" {
    n[$3]++; if ($4 > max[$3]) max[$3] = $4; how[$3 " " $6]++
    d = ($3 == "catchall" || $3 == "tarpit") ? (t + r) * 1000 : t * 1000
    if ($4 > d + margin) over[$3]++
    if ($6 == "cap") cap++
    total++
  }
  $1 == "C" {
    commands++
    verb = toupper($4)
    if (verb == "DATA" || verb == "BDAT") { bad++; if (bad <= 5) print "  DATA/BDAT: " $0 }
  }
  END {
    for (s in n) {
      d = (s == "catchall" || s == "tarpit") ? (t + r) * 1000 : t * 1000
      line = sprintf("  %-10s sessions %8d  max lifetime %6d ms  deadline %5d ms  over %d  ends:",
                     s, n[s], max[s], d + margin, over[s] + 0)
      for (k in how) { split(k, p, " "); if (p[1] == s) line = line " " p[2] "=" how[k] }
      print line
      all_over += over[s]
    }
    printf "sessions=%d commands=%d data_bdat=%d over=%d capped=%d\n", total, commands, bad + 0,
      all_over + 0, cap + 0 > "/dev/stderr"
  }' "$WORK/commands.log" 2>"$WORK/server_summary.txt" | sort
read -r server_line <"$WORK/server_summary.txt"
sessions=$(field sessions <<<"$server_line")
commands=$(field commands <<<"$server_line")
data_bdat=$(field data_bdat <<<"$server_line")
server_over=$(field over <<<"$server_line")
capped=$(field capped <<<"$server_line")
grep -q . "$WORK/server.stats" && echo "soak_server CPU: $(sed -n 's/^all cpu_seconds=//p' "$WORK/server.stats") s"
echo
echo "run: $(s probes) probes in $(s seconds) s (whole script part $run_seconds s), daemon CPU" \
  "$(s daemon_cpu_seconds) s (monitor $(s monitor_cpu_seconds) s), $(s seen) probes seen on /metrics, $sessions TCP sessions," \
  "$commands command lines logged"
[[ -n $(s rss_growth_mib "") ]] && echo "growth 25 % -> 100 %: VmRSS $(s rss_25_mib) -> $(s rss_100_mib) MiB" \
  "($(s rss_growth_mib) MiB, $(s rss_growth_pct) %); median fds $(s fds_med_25) -> $(s fds_med_100)" \
  "($(s fds_growth)); every second from 25 % to 100 %: VmRSS $(s rss_range_mib) MiB, fds $(s fds_range)"
check alive "$(( daemon_alive && server_alive && ! $(s daemon_died) ))" \
  "daemon running until the end: $daemon_alive; soak_server: $server_alive"
check finished "$(s finished)" "$(s probes) of $PROBES probes"
check deadline-daemon "$(( $(s over_deadline) == 0 ))" "$(s over_deadline) of $(s seen) seen probes over their deadline + $MARGIN_MS ms"
check deadline-server "$(( server_over == 0 && capped == 0 ))" "$server_over of $sessions TCP sessions outlived their probe's deadline + $MARGIN_MS ms, $capped hit the 30 s cap"
stats_data_bdat=$(grep -o 'data_bdat=[0-9]*' "$WORK/server.stats" | awk -F= '{n += $2} END {print n + 0}')
check no-data "$(( data_bdat == 0 && stats_data_bdat == 0 ))" \
  "$data_bdat DATA/BDAT among $commands logged command lines (soak_server's own count: $stats_data_bdat)"
if [[ -n $(s rss_growth_pct "") ]]; then
  check rss-flat "$(calc "int($(s rss_growth_pct) <= $MAX_RSS_GROWTH_PCT)")" "VmRSS $(s rss_growth_pct) % from 25 % to 100 % (limit $MAX_RSS_GROWTH_PCT %)"
  check fds-flat "$(calc "int($(s fds_growth) <= $MAX_FD_GROWTH)")" "median fds $(s fds_growth) from 25 % to 100 % (limit $MAX_FD_GROWTH)"
fi
check catch-all "$(( $(s catchall_open) == 0 && $(s tarpit_open) == 0 && $(s catchall_seen) > 0 ))" \
  "catch-all called open $(s catchall_open) times (tarpit $(s tarpit_open)) in $(s catchall_seen) seen relay tests; flagged catch-all (smtp_rcpt_catch_all 1) $(s catchall_flagged) times"
check scrapes "$(( $(s metrics_failures) == 0 && $(s status_failures) == 0 ))" "failed GET /metrics: $(s metrics_failures), failed GET /: $(s status_failures)"
grep -v 'level=info' "$WORK/daemon.log" | grep -v '^$' | head -5 >&2 || true
echo "logs: $WORK (report.txt: this report; commands.log: every line soak_server received)"
status=$((failed || monitor_status))
exec >&-  # let tee write the last lines before the script's caller reads them
wait "$TEE_PID" || true
exit "$status"
}
