#!/usr/bin/env bash
# bench/run.sh: the daemon's benchmark (issue #3 item 7). Not a test; CI does not run it.
#
# Builds smtp_exporter and bench/smtp_responder in Release, starts the responder on loopback
# (127.1.0.1 and up, port 2525: one listening socket per target address), runs the daemon with
# generated configs in several bounded phases and prints one table:
#
#   idle        10 targets, 1 s interval: greeting-latency error against the injected delay
#   1k-plain    1,000 targets, starttls off, 10 s interval (100 probes/s offered)
#   1k-tls      1,000 targets, STARTTLS required and verified, 10 s interval
#   10k-plain   10,000 targets, starttls off, 10 s interval (1,000 probes/s); /metrics samples
#   10k-tls     10,000 targets, STARTTLS, 30 s interval (333 probes/s)
#   10k-500     10,000 targets, 20 s interval, the responder holds QUIT for 900 ms so that
#               ~500 probes are in flight at 500 probes/s: greeting-latency error under load
#   100k-plain  100,000 targets, starttls off, 60 s interval (1,667 probes/s); /metrics samples
#   100k-tls    100,000 targets, STARTTLS, 60 s interval
#   100k-scraped  100k-plain while a full, uncompressed /metrics is fetched every 15 s through the
#               window, as a Prometheus server would (issue 9 goal 4): greeting-latency error and
#               lag under scrapes; its CPU per probe includes the rendering
#   smoke       20 STARTTLS targets, 2 s interval, WINDOW seconds (the CI smoke run, bench/smoke_test.sh)
#
# Up to 10,000 targets the responder listens on one socket per target address. RLIMIT_NOFILE
# (20,000 on the project's machine) rules that out for 100,000, so the 100k phases (and smoke)
# start it with --bind any: one socket on 0.0.0.0:SMTP_PORT that all of 127.0.0.0/8 reaches.
# That is safe only because the whole script runs in a network namespace of its own that has
# nothing but lo (unshare -n, then `ip link set lo up`): no packet can leave the machine, and the
# responder refuses --bind any anywhere else. The daemon connects from 127.0.0.1 to 100,000
# distinct destination addresses, so the kernel's ephemeral ports are not the limit.
#
# CPU per probe = the daemon's utime+stime (/proc/PID/stat) over the measuring window divided by
# the sessions the responder accepted over the same window (one per probe; the
# smtp_exporter_probes_total delta is printed as ctr/s, a cross-check). The window starts after
# one full interval (every target has run once), and the scrapes around it happen outside it, so
# /metrics rendering is not charged to the probes.
#
# Everything is on loopback and bounded: every phase ends by itself, the default phases take
# about 8 minutes, each 100k phase about 2 + WINDOW/60 minutes, and every process started here is
# killed on exit. The table at the end is followed by the cost-growth table (probes/s, CPU per
# probe, RSS per target at 1,000, 10,000 and 100,000 targets) for the phases that ran.
#
# Environment: BUILD_DIR (default <repo>/build-bench), WINDOW (measuring window per phase,
# default 60 s), HTTP_PORT (daemon, default 19025), SMTP_PORT (responder, default 2525),
# BANNER_DELAY_MS (default 100), SKIP_BUILD=1, PHASES (default "idle 1k-plain 1k-tls 10k-plain
# 10k-tls 10k-500"; "metrics" alone re-measures /metrics at 10,000 targets; add "100k-plain
# 100k-tls" for goal 1 of issue 9), SMTP_EXPORTER and SMTP_RESPONDER (binaries, with SKIP_BUILD=1).
# Needs: root (unshare -n), iproute2, cmake, ninja, g++, curl, python3 (parsing only).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
enter_netns "$@"
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
WINDOW=${WINDOW:-60}
HTTP_PORT=${HTTP_PORT:-19025}
SMTP_PORT=${SMTP_PORT:-2525}
BANNER_DELAY_MS=${BANNER_DELAY_MS:-100}
PHASES=${PHASES:-"idle 1k-plain 1k-tls 10k-plain 10k-tls 10k-500"}
FIRST_ADDRESS=127.1.0.1
WORK=$(mktemp -d /tmp/smtp-bench.XXXXXX)
EXPORTER=${SMTP_EXPORTER:-$BUILD_DIR/daemon/smtp_exporter}
RESPONDER=${SMTP_RESPONDER:-$BUILD_DIR/bench/smtp_responder}
URL=http://127.0.0.1:$HTTP_PORT
HZ=$(getconf CLK_TCK)

DAEMON_PID=""
DAEMON_TIMEOUT_PID=""
RESPONDER_PID=""

cleanup() {
  stop_pid "$DAEMON_PID"
  stop_pid "$DAEMON_TIMEOUT_PID"
  stop_pid "$RESPONDER_PID"
  DAEMON_PID=""
  RESPONDER_PID=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build ---------------------------------------------------------------------------------------
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  log "building Release in $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DSMTP_EXPORTER_TESTS=OFF -DSMTP_EXPORTER_BENCH=ON >"$WORK/cmake.log" 2>&1 || { cat "$WORK/cmake.log"; exit 1; }
  cmake --build "$BUILD_DIR" --target smtp_exporter smtp_responder -j"$(nproc)" \
    >"$WORK/build.log" 2>&1 || { tail -50 "$WORK/build.log"; exit 1; }
fi
ulimit -n "$(ulimit -Hn)"

# --- helpers -------------------------------------------------------------------------------------
cat >"$WORK/parse.py" <<'PY'
import re, sys

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

def samples(path):
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            if line.startswith('#'):
                continue
            m = LINE.match(line)
            if m:
                yield m.group(1), dict(LABEL.findall(m.group(3) or '')), float(m.group(4))

def summary(path):
    out = {'probes': 0.0, 'in_flight': 0.0, 'greet_sum': 0.0, 'greet_count': 0.0, 'failed': 0.0}
    seen = False
    for name, labels, value in samples(path):
        if name == 'smtp_exporter_probes_total':
            seen = True
            out['probes'] += value
            if labels.get('result') != 'success':
                out['failed'] += value
        elif name == 'smtp_exporter_probes_in_flight':
            out['in_flight'] = value
        elif name == 'smtp_greeting_duration_seconds_sum':
            out['greet_sum'] += value
        elif name == 'smtp_greeting_duration_seconds_count':
            out['greet_count'] += value
    if not seen:  # a scrape cut short: the exporter's own families come last
        out['probes'] = out['failed'] = float('nan')
    print(' '.join('%s=%r' % kv for kv in out.items()))

def lag_buckets(path):
    return {float(labels['le']): value for name, labels, value in samples(path)
            if name == 'smtp_exporter_scheduler_lag_seconds_bucket'}

def lag(path0, path1):
    # p50 and p99 of the scheduler lag histogram over the window between two scrapes, interpolated
    # within a bucket as Prometheus' histogram_quantile() does.
    b0, b1 = lag_buckets(path0), lag_buckets(path1)
    buckets = sorted((le, count - b0.get(le, 0.0)) for le, count in b1.items())
    out = {}
    for name, q in (('lag_p50', 0.5), ('lag_p99', 0.99)):
        total = buckets[-1][1] if buckets else 0.0
        value, lower, below = float('nan'), 0.0, 0.0
        for le, count in buckets if total > 0 else []:
            if count >= q * total:
                if le == float('inf'):
                    value = lower  # the highest finite bound, as histogram_quantile() answers
                else:
                    value = lower + (le - lower) * (q * total - below) / max(count - below, 1e-9)
                break
            lower, below = le, count
        out[name] = value
    print(' '.join('%s=%r' % kv for kv in out.items()))

def greeting(delay, paths):
    # One sample per (target, run): the greeting step of each target's latest probe, deduplicated
    # across scrapes by smtp_probe_last_run_timestamp_seconds.
    seen = {}
    for path in paths:
        greet, run = {}, {}
        for name, labels, value in samples(path):
            if name == 'smtp_probe_step_duration_seconds' and labels.get('step') == 'greeting':
                greet[labels['target']] = value
            elif name == 'smtp_probe_last_run_timestamp_seconds':
                run[labels['target']] = value
        for target, value in greet.items():
            seen[(target, run.get(target))] = value
    errors = sorted(abs(v - delay) * 1000 for v in seen.values())
    if not errors:
        print('n=0 mean=nan p99=nan max=nan')
        return
    p99 = errors[min(len(errors) - 1, int(0.99 * len(errors)))]
    print('n=%d mean=%.3f p99=%.3f max=%.3f' % (len(errors), sum(errors) / len(errors), p99,
                                                errors[-1]))

def median(values):
    v = sorted(float(x) for x in values)
    print(v[len(v) // 2] if v else float('nan'))

if sys.argv[1] == 'summary':
    summary(sys.argv[2])
elif sys.argv[1] == 'lag':
    lag(sys.argv[2], sys.argv[3])
elif sys.argv[1] == 'greeting':
    greeting(float(sys.argv[2]), sys.argv[3:])
elif sys.argv[1] == 'median':
    median(sys.argv[2:])
elif sys.argv[1] == 'config':
    # config N MODULE INTERVAL TIMEOUT CA_FILE
    import ipaddress
    n, module, interval, timeout, ca = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], \
        sys.argv[6]
    first = int(ipaddress.IPv4Address(sys.argv[7]))
    port = sys.argv[8]
    print('modules:')
    print('  plain: {timeout: %s, ehlo_name: bench-client.test, starttls: "off"}' % timeout)
    print('  tls:')
    print('    timeout: %s' % timeout)
    print('    ehlo_name: bench-client.test')
    print('    starttls: required')
    print('    tls: {verify: true, server_name: bench.test, ca_file: "%s"}' % ca)
    print('targets:')
    for i in range(n):
        print('  - {address: "%s:%s", module: %s, interval: %s}' %
              (ipaddress.IPv4Address(first + i), port, module, interval))
PY
parse() { python3 "$WORK/parse.py" "$@"; }
now() { date +%s.%N; }

start_responder() {  # start_responder COUNT QUIT_DELAY_MS [any]
  stop_pid "$RESPONDER_PID"
  local listen=(--first-address "$FIRST_ADDRESS" --count "$1")
  [[ ${3:-} == any ]] && listen=(--bind any)
  "$RESPONDER" "${listen[@]}" --port "$SMTP_PORT" \
    --banner-delay-ms "$BANNER_DELAY_MS" --quit-delay-ms "$2" --write-cert "$WORK/ca.pem" \
    --max-seconds $((WINDOW + 300)) 2>"$WORK/responder.log" &
  RESPONDER_PID=$!
  for _ in $(seq 300); do
    grep -q listening "$WORK/responder.log" && return 0
    kill -0 "$RESPONDER_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$WORK/responder.log" >&2
  log "responder did not start"
  exit 1
}

start_daemon() {  # start_daemon CONFIG MAX_IN_FLIGHT MAX_SECONDS
  stop_pid "$DAEMON_PID"
  timeout -s TERM "$3" "$EXPORTER" --config.file "$1" --web.listen-address "127.0.0.1:$HTTP_PORT" \
    --probe.max-in-flight "$2" --log.level warn 2>"$WORK/daemon.log" &
  DAEMON_PID=$!
  for _ in $(seq 1200); do  # 100,000 targets take a while to load
    curl -sf -o /dev/null "$URL/-/ready" && { DAEMON_PID=$(daemon_pid); return 0; }
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$WORK/daemon.log" >&2
  log "daemon did not become ready"
  exit 1
}

# The responder's counters without stopping it (SIGUSR1 prints a `stats` line): sessions it
# accepted, i.e. probes, counted without asking the daemon.
responder_stats() {
  local before
  before=$(grep -c ' stats ' "$WORK/responder.log" || true)
  kill -USR1 "$RESPONDER_PID"
  for _ in $(seq 50); do
    (($(grep -c ' stats ' "$WORK/responder.log" || true) > before)) && break
    sleep 0.1
  done
  grep ' stats ' "$WORK/responder.log" | tail -1
}

daemon_pid() { pgrep -P "$DAEMON_PID" -x smtp_exporter | head -1; }  # below `timeout`

# Keeps only the series the figures need (the exporter's own, the greeting histogram's sum and
# count, each target's greeting step and last run): at 100,000 targets a full scrape is hundreds
# of MB. The scrape goes to a file first, so that a slow filter cannot hold the daemon's writes
# back.
scrape() {
  local started=$SECONDS
  curl -sf -o "$WORK/scrape.full" "$URL/metrics" || log "scrape failed: curl exit $?"
  LC_ALL=C grep -E '^(smtp_exporter_|smtp_greeting_duration_seconds_(sum|count)|smtp_probe_last_run_timestamp_seconds)|^smtp_probe_step_duration_seconds[{].*step="greeting"' \
    "$WORK/scrape.full" >"$1" || true
  rm -f "$WORK/scrape.full"
  ((SECONDS - started < 10)) || log "scrape took $((SECONDS - started)) s"
}

# Keeps the `timeout` wrapper's pid so that cleanup stops the wrapper (and with it the daemon).
run_daemon() {  # run_daemon CONFIG MAX_IN_FLIGHT MAX_SECONDS
  start_daemon "$@"
  DAEMON_TIMEOUT_PID=$!
}

stop_daemon() {
  stop_pid "$DAEMON_PID"
  wait "$DAEMON_TIMEOUT_PID" 2>/dev/null || true
  DAEMON_PID=""
}

config() {  # config FILE N MODULE INTERVAL TIMEOUT
  parse config "$2" "$3" "$4" "$5" "$WORK/ca.pem" "$FIRST_ADDRESS" "$SMTP_PORT" >"$1"
}

declare -A R  # results: R[phase.key]

# measure PHASE TARGETS WARMUP: after WARMUP seconds, measures over WINDOW seconds.
measure() {
  local phase=$1 targets=$2 warmup=$3 t0 t1 c0 c1 r0 r1 s0 s1 lq p0 p1 f0 f1 a0 a1 conns=0 samples=0
  log "$phase: warming up ${warmup}s"
  sleep "$warmup"
  scrape "$WORK/$phase.0.prom"
  a0=$(responder_stats | field accepted)
  t0=$(now); c0=$(ticks "$DAEMON_PID"); r0=$(ticks "$RESPONDER_PID")
  log "$phase: measuring ${WINDOW}s"
  local end=$((SECONDS + WINDOW)) next_scrape=$SECONDS scrapes=0 scrapers=()
  while ((SECONDS < end)); do  # established loopback SMTP sessions = probes in flight, cheaply
    if [[ -n ${SCRAPE_EVERY:-} ]] && ((SECONDS >= next_scrape)); then
      # In the background, as Prometheus does; each one's time and size for the table.
      curl -sf -o /dev/null -w '%{time_total} %{size_download}\n' "$URL/metrics" \
        >>"$WORK/$phase.scrapes" &
      scrapers+=($!)
      next_scrape=$((SECONDS + SCRAPE_EVERY)) scrapes=$((scrapes + 1))
    fi
    conns=$((conns + $(ss -Htn state established "( sport = :$SMTP_PORT )" | wc -l)))
    samples=$((samples + 1))
    sleep 1
  done
  c1=$(ticks "$DAEMON_PID"); r1=$(ticks "$RESPONDER_PID"); t1=$(now)
  ((${#scrapers[@]} == 0)) || wait "${scrapers[@]}" || log "$phase: a background scrape failed"
  R[$phase.scrapes]=$scrapes
  if ((scrapes > 0)); then
    R[$phase.scrape_ms]=$(calc "round($(parse median $(cut -d' ' -f1 "$WORK/$phase.scrapes")) * 1000, 1)")
    R[$phase.scrape_bytes]=$(parse median $(cut -d' ' -f2 "$WORK/$phase.scrapes"))
  fi
  a1=$(responder_stats | field accepted)
  R[$phase.load]=$(cut -d' ' -f1 /proc/loadavg)
  R[$phase.rss_kib]=$(kib "$DAEMON_PID" VmRSS)
  scrape "$WORK/$phase.1.prom"
  R[$phase.hwm_kib]=$(kib "$DAEMON_PID" VmHWM)
  s0=$(parse summary "$WORK/$phase.0.prom"); s1=$(parse summary "$WORK/$phase.1.prom")
  p0=$(field probes <<<"$s0"); p1=$(field probes <<<"$s1")
  f0=$(field failed <<<"$s0"); f1=$(field failed <<<"$s1")
  R[$phase.targets]=$targets
  # Probes over the window: the sessions the responder accepted between t0 and t1 (one per
  # probe, counted at those instants). The daemon's counter is a cross-check only: its values
  # date from when each scrape began, so its delta also covers the first scrape's rendering
  # (seconds at 100,000 targets), and a scrape cut short has none.
  R[$phase.ctr_rate]=$(calc "round(($p1 - $p0) / ($t1 - $t0), 1)")
  p0=$a0 p1=$a1
  R[$phase.rate]=$(calc "round(($p1 - $p0) / ($t1 - $t0), 1)")
  R[$phase.failed]=$(calc "'n/a' if isnan($f1 - $f0) else int($f1 - $f0)")
  R[$phase.cpu_ms]=$(calc "round(($c1 - $c0) * 1000.0 / $HZ / max(1, $p1 - $p0), 4)")
  R[$phase.cpu_pct]=$(calc "round(($c1 - $c0) * 100.0 / $HZ / ($t1 - $t0), 1)")
  R[$phase.resp_ms]=$(calc "round(($r1 - $r0) * 1000.0 / $HZ / max(1, $p1 - $p0), 4)")
  R[$phase.resp_pct]=$(calc "round(($r1 - $r0) * 100.0 / $HZ / ($t1 - $t0), 1)")
  lq=$(parse lag "$WORK/$phase.0.prom" "$WORK/$phase.1.prom")
  R[$phase.lag_p50]=$(calc "round($(field lag_p50 <<<"$lq") * 1000, 3)")
  R[$phase.lag_p99]=$(calc "round($(field lag_p99 <<<"$lq") * 1000, 3)")
  R[$phase.in_flight]=$(calc "round($conns / max(1, $samples), 1)")
  # Mean signed greeting error over every probe of the window (histogram sum/count deltas).
  R[$phase.greet_mean]=$(calc "round((($(field greet_sum <<<"$s1") - $(field greet_sum <<<"$s0")) \
    / max(1, $(field greet_count <<<"$s1") - $(field greet_count <<<"$s0")) - \
    $BANNER_DELAY_MS / 1000.0) * 1000, 3)")
  R[$phase.greet]=$(parse greeting "$(calc "$BANNER_DELAY_MS / 1000.0")" "$WORK/$phase.1.prom")
  log "$phase: ${R[$phase.rate]} probes/s, ${R[$phase.cpu_ms]} ms CPU/probe," \
    "in flight ${R[$phase.in_flight]}, failed ${R[$phase.failed]}"
}

# /metrics render time and size: N samples (default 5), median of those that completed; a
# sample cut short (curl exit 18: the daemon's write timeout) is listed as failed.
metrics_samples() {  # metrics_samples [PREFIX, default metrics] [N]
  local m=${1:-metrics} n=${2:-5} times=() sizes=() out code failed=""
  for _ in $(seq "$n"); do
    code=0
    out=$(curl -sf -o /dev/null -w '%{time_total} %{size_download}' "$URL/metrics") || code=$?
    if ((code == 0)); then
      times+=("${out% *}")
      sizes+=("${out#* }")
    else
      failed+="failed(curl $code after ${out% *} s, ${out#* } bytes) "
    fi
    sleep 1
  done
  R[$m.ms]=$(calc "round($(parse median "${times[@]}") * 1000, 1)")
  R[$m.bytes]=$(parse median "${sizes[@]}")
  R[$m.all_ms]="$(printf '%s ' "${times[@]}")$failed"
  code=0
  out=$(curl -sf -o /dev/null -H 'Accept-Encoding: gzip' -w '%{time_total} %{size_download}' \
    "$URL/metrics") || code=$?
  R[$m.gzip]="$out$( ((code == 0)) || echo " failed (curl $code)")"
  R[$m.hwm_kib]=$(kib "$DAEMON_PID" VmHWM)
  log "/metrics ($m): median ${R[$m.ms]} ms, ${R[$m.bytes]} bytes (all: ${R[$m.all_ms]})"
}

# --- phases --------------------------------------------------------------------------------------
run_phase() {
  local phase=$1
  case $phase in
    idle)
      start_responder 10 0
      config "$WORK/idle.yml" 10 plain 1s 1s
      run_daemon "$WORK/idle.yml" 100 60
      log "idle: 10 targets, scraping every second for 20 s"
      sleep 2
      local files=()
      for i in $(seq 20); do
        scrape "$WORK/idle.$i.prom"
        files+=("$WORK/idle.$i.prom")
        sleep 1
      done
      R[idle.greet]=$(parse greeting "$(calc "$BANNER_DELAY_MS / 1000.0")" "${files[@]}")
      local s
      s=$(parse summary "${files[-1]}")
      R[idle.greet_mean]=$(calc "round(($(field greet_sum <<<"$s") / \
        max(1, $(field greet_count <<<"$s")) - $BANNER_DELAY_MS / 1000.0) * 1000, 3)")
      log "idle: greeting error ${R[idle.greet]}"
      ;;
    1k-plain) start_responder 1000 0; config "$WORK/$phase.yml" 1000 plain 10s 5s
      run_daemon "$WORK/$phase.yml" 5000 $((WINDOW + 60)); measure "$phase" 1000 12 ;;
    1k-tls) start_responder 1000 0; config "$WORK/$phase.yml" 1000 tls 10s 5s
      run_daemon "$WORK/$phase.yml" 5000 $((WINDOW + 60)); measure "$phase" 1000 12 ;;
    10k-plain) start_responder 10000 0; config "$WORK/$phase.yml" 10000 plain 10s 5s
      run_daemon "$WORK/$phase.yml" 5000 $((WINDOW + 80)); measure "$phase" 10000 12
      metrics_samples ;;
    10k-tls) start_responder 10000 0; config "$WORK/$phase.yml" 10000 tls 30s 5s
      run_daemon "$WORK/$phase.yml" 5000 $((WINDOW + 80)); measure "$phase" 10000 32 ;;
    10k-500) start_responder 10000 900; config "$WORK/$phase.yml" 10000 plain 20s 5s
      run_daemon "$WORK/$phase.yml" 5000 $((WINDOW + 80)); measure "$phase" 10000 22 ;;
    metrics) start_responder 10000 0; config "$WORK/$phase.yml" 10000 plain 10s 5s
      run_daemon "$WORK/$phase.yml" 5000 60; sleep 12; metrics_samples ;;
    # The window starts after one full interval (62 s), when every target has run once.
    100k-plain) start_responder 100000 0 any; config "$WORK/$phase.yml" 100000 plain 60s 5s
      run_daemon "$WORK/$phase.yml" 5000 $((WINDOW + 300)); measure "$phase" 100000 62
      metrics_samples metrics100k 3 ;;
    100k-scraped) start_responder 100000 0 any; config "$WORK/$phase.yml" 100000 plain 60s 5s
      run_daemon "$WORK/$phase.yml" 5000 $((WINDOW + 300))
      SCRAPE_EVERY=15 measure "$phase" 100000 62 ;;
    100k-tls) start_responder 100000 0 any; config "$WORK/$phase.yml" 100000 tls 60s 5s
      run_daemon "$WORK/$phase.yml" 5000 $((WINDOW + 300)); measure "$phase" 100000 62 ;;
    smoke) start_responder 20 0 any; config "$WORK/$phase.yml" 20 tls 2s 2s
      run_daemon "$WORK/$phase.yml" 100 $((WINDOW + 30)); measure "$phase" 20 2.5 ;;
    *) log "unknown phase $phase"; exit 2 ;;
  esac
  stop_daemon
  grep -v '^$' "$WORK/daemon.log" | grep -v 'level=info' | head -5 >&2 || true
  stop_pid "$RESPONDER_PID"
  RESPONDER_PID=""
  log "$phase: responder: $(grep ' exit ' "$WORK/responder.log" | grep -o 'accepted=.*' || true)"
}

log "work dir $WORK; phases: $PHASES; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for phase in $PHASES; do run_phase "$phase"; done

# --- table ---------------------------------------------------------------------------------------
v() { echo "${R[$1]:-n/a}"; }
echo
echo "smtp_exporter benchmark: $(nproc) cores, $(uname -r), banner delay ${BANNER_DELAY_MS} ms," \
  "window ${WINDOW} s, $(date -u +%FT%TZ)"
echo
printf '%-10s %7s %8s %8s %10s %8s %9s %9s %9s %9s %8s %10s %6s %8s\n' phase targets \
  probes/s in_flt cpu_ms/pr cpu_% rss_MiB hwm_MiB lag_p50ms lag_p99ms failed resp_cpu_% load1 \
  ctr/s
ALL_PHASES="smoke 1k-plain 1k-tls 10k-plain 10k-tls 10k-500 100k-plain 100k-scraped 100k-tls"
for phase in $ALL_PHASES; do
  [[ -n ${R[$phase.rate]:-} ]] || continue
  printf '%-10s %7s %8s %8s %10s %8s %9s %9s %9s %9s %8s %10s %6s %8s\n' "$phase" "$(v "$phase.targets")" \
    "$(v "$phase.rate")" "$(v "$phase.in_flight")" "$(v "$phase.cpu_ms")" "$(v "$phase.cpu_pct")" \
    "$(calc "round(${R[$phase.rss_kib]} / 1024, 1)")" "$(calc "round(${R[$phase.hwm_kib]} / 1024, 1)")" \
    "$(v "$phase.lag_p50")" "$(v "$phase.lag_p99")" "$(v "$phase.failed")" "$(v "$phase.resp_pct")" "$(v "$phase.load")" \
    "$(v "$phase.ctr_rate")"
done
echo "(load1: 1-minute load average at the end of the window; above ~1.5 on 2 cores means other"
echo " processes competed for the CPU and the latency figures are pessimistic; probes/s: sessions"
echo " the responder accepted over the window; ctr/s: smtp_exporter_probes_total's delta between"
echo " the scrapes around it, which also spans the first scrape's rendering; nan: a scrape cut short)"
echo
if [[ -n ${R[10k-plain.rss_kib]:-} ]]; then
  echo "RSS per target at 10,000 (VmRSS/targets): $(calc "round(${R[10k-plain.rss_kib]} * 1024 / 10000)") B;" \
    "VmHWM/targets: $(calc "round(${R[10k-plain.hwm_kib]} * 1024 / 10000)") B"
  if [[ -n ${R[1k-plain.rss_kib]:-} ]]; then
    echo "marginal RSS per target, 1,000 -> 10,000 plain: $(calc \
      "round((${R[10k-plain.rss_kib]} - ${R[1k-plain.rss_kib]}) * 1024 / 9000)") B"
  fi
fi
[[ -n ${R[metrics.ms]:-} ]] && echo "/metrics at 10,000 targets: median ${R[metrics.ms]} ms," \
  "${R[metrics.bytes]} bytes (samples s: ${R[metrics.all_ms]}); gzip: ${R[metrics.gzip]} (s bytes)"
[[ -n ${R[metrics100k.ms]:-} ]] && echo "/metrics at 100,000 targets: median ${R[metrics100k.ms]} ms," \
  "${R[metrics100k.bytes]} bytes (samples s: ${R[metrics100k.all_ms]}); gzip:" \
  "${R[metrics100k.gzip]} (s bytes); VmHWM after the samples $(calc \
  "round(${R[metrics100k.hwm_kib]} / 1024, 1)") MiB"
[[ -n ${R[idle.greet]:-} ]] && echo "greeting error at idle (10 targets), |measured - ${BANNER_DELAY_MS} ms| in ms:" \
  "${R[idle.greet]}; signed mean over all probes ${R[idle.greet_mean]} ms"
for phase in smoke 10k-plain 10k-500 100k-plain 100k-scraped 100k-tls; do
  [[ -n ${R[$phase.greet]:-} ]] && echo "greeting error $phase (~${R[$phase.in_flight]} in flight$(
    [[ ${R[$phase.scrapes]:-0} == 0 ]] || echo ", ${R[$phase.scrapes]} full scrapes in the window")," \
    "ms: ${R[$phase.greet]}; signed mean over window ${R[$phase.greet_mean]} ms"
done
[[ -n ${R[100k-scraped.scrape_ms]:-} ]] && echo "/metrics during 100k-scraped:" \
  "${R[100k-scraped.scrapes]} full scrapes in the window, median ${R[100k-scraped.scrape_ms]} ms," \
  "${R[100k-scraped.scrape_bytes]} bytes"
for phase in $ALL_PHASES; do
  [[ -n ${R[$phase.resp_ms]:-} ]] && echo "responder CPU $phase: ${R[$phase.resp_ms]} ms/probe," \
    "${R[$phase.resp_pct]} % of one core"
done
echo "goals (issue 9): plain <= 0.08 ms CPU, STARTTLS <= 0.45 ms, <= 3 KiB RSS/target at 100,000," \
  "/metrics(100k) <= 1 s, greeting error p99 <= 1 ms under 15 s scrapes, < 5 ms at 500 in flight"

# How cost grows with the fleet (issue 9 goal 7): the per-target figures must not grow.
growth=0
for phase in 1k-plain 10k-plain 100k-plain 1k-tls 10k-tls 100k-tls; do
  [[ -n ${R[$phase.rate]:-} ]] && growth=1
done
if ((growth)); then
  echo
  echo "cost growth (1k and 10k-plain at a 10 s interval, 10k-tls at 30 s, 100k at 60 s):"
  printf '%-6s %8s %9s %8s %10s %10s %11s %9s %9s %6s\n' module targets interval probes/s \
    cpu_ms/pr rss_MiB rss_B/tgt hwm_B/tgt lag_p99ms load1
  for module in plain tls; do
    for size in 1k 10k 100k; do
      phase=$size-$module
      [[ -n ${R[$phase.rate]:-} ]] || continue
      case $phase in 10k-tls) interval=30s ;; 100k-*) interval=60s ;; *) interval=10s ;; esac
      printf '%-6s %8s %9s %8s %10s %10s %11s %9s %9s %6s\n' "$module" "$(v "$phase.targets")" \
        "$interval" "$(v "$phase.rate")" "$(v "$phase.cpu_ms")" \
        "$(calc "round(${R[$phase.rss_kib]} / 1024, 1)")" \
        "$(calc "round(${R[$phase.rss_kib]} * 1024 / ${R[$phase.targets]})")" \
        "$(calc "round(${R[$phase.hwm_kib]} * 1024 / ${R[$phase.targets]})")" \
        "$(v "$phase.lag_p99")" "$(v "$phase.load")"
    done
  done
  echo "(rss_B/tgt: VmRSS at the end of the window / targets; hwm_B/tgt: VmHWM after the second"
  echo " scrape / targets; goals: plain <= 0.08 ms, tls <= 0.45 ms CPU per probe, <= 3 KiB RSS per"
  echo " target at 100,000)"
fi
echo "raw scrapes and logs: $WORK"
