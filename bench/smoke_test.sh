#!/usr/bin/env bash
# The CI smoke run of the benchmark harness (issue 9): bench/compare.sh at concurrency 5 and
# bench/run.sh's `smoke` phase (20 STARTTLS targets, the responder's --bind any mode), each for
# a few seconds, with the binaries of the normal build; then checks that each table is printed
# with sane numbers: every cell answered probes, all of them 200 with probe success 1, no HTTP
# error, a CPU time per probe, a peak RSS, and a greeting latency error below 50 ms. It checks
# that the harness works, not how fast anything is. blackbox's column is checked when
# prometheus-blackbox-exporter is installed (scripts/install-deps installs it) and skipped
# otherwise.
#
# Then bench/soak.sh at a smoke size (80 targets, 400 probes, about 12 s): every check of the soak
# but the flatness ones (meaningless over seconds) must pass. Last, result_footprint against the
# responder, plain and STARTTLS: each prints a successful probe and a plausible size.
#
#   bench/smoke_test.sh SMTP_EXPORTER SMTP_RESPONDER PROBE_LOAD SOAK_SERVER RESULT_FOOTPRINT
#
# Exit 77 (skipped) when not root: both scripts run in a network namespace of their own.
set -euo pipefail
[[ $# -eq 5 ]] || {
  echo "usage: $0 SMTP_EXPORTER SMTP_RESPONDER PROBE_LOAD SOAK_SERVER RESULT_FOOTPRINT" >&2
  exit 2
}
if [[ $(id -u) != 0 ]]; then
  echo "smoke_test: needs root for unshare -n; skipped"
  exit 77
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export SKIP_BUILD=1 SMTP_EXPORTER=$1 SMTP_RESPONDER=$2 PROBE_LOAD=$3 SOAK_SERVER=$4
OUT=$(mktemp -d /tmp/smtp-bench-smoke.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
fail() { echo "smoke_test: FAIL: $*" >&2; exit 1; }

WINDOW=2 DRAIN=3 CONCURRENCY=5 bash "$HERE/compare.sh" >"$OUT/compare.txt" 2>"$OUT/compare.log" ||
  { status=$?; cat "$OUT/compare.log" "$OUT/compare.txt" >&2; fail "compare.sh exited with $status"; }
cat "$OUT/compare.txt"
exporters="smtp_exporter"
command -v prometheus-blackbox-exporter >/dev/null && exporters="blackbox smtp_exporter"
for exporter in $exporters; do
  for module in banner tls; do
    row=$(awk -v e="$exporter" -v m="$module" '$1 == e && $2 == m && $3 == 5' "$OUT/compare.txt")
    [[ -n $row ]] || fail "compare.sh printed no row for $exporter $module"
    # exporter module conc probes/s cpu_ms/pr ratio hwm_MiB http_err unans lat_p50 lat_p99
    # lerr_mean lerr_p99 ok% load1
    read -r _ _ _ rate cpu _ hwm errors unanswered p50 _ lerr _ ok _ <<<"$row"
    awk -v rate="$rate" -v cpu="$cpu" -v hwm="$hwm" -v errors="$errors" -v un="$unanswered" \
      -v p50="$p50" -v lerr="$lerr" -v ok="$ok" 'BEGIN {
        exit !(rate >= 5 && cpu > 0 && cpu < 100 && hwm > 1 && hwm < 1024 && errors == 0 &&
               un == 0 && p50 >= 100 && p50 < 2000 && lerr >= 0 && lerr < 50 && ok == 100)
      }' || fail "compare.sh: implausible row: $row"
  done
done
grep -q "^exporter .*probes/s .*cpu_ms/pr .*ratio" "$OUT/compare.txt" || fail "no table header"

WINDOW=2 PHASES=smoke bash "$HERE/run.sh" >"$OUT/run.txt" 2>"$OUT/run.log" ||
  { status=$?; cat "$OUT/run.log" "$OUT/run.txt" >&2; fail "run.sh exited with $status"; }
cat "$OUT/run.txt"
row=$(awk '$1 == "smoke"' "$OUT/run.txt")
[[ -n $row ]] || fail "run.sh printed no smoke row"
# phase targets probes/s in_flt cpu_ms/pr cpu_% rss_MiB hwm_MiB lag_p50 lag_p99 failed ...
read -r _ targets rate _ cpu _ rss _ _ _ failed _ <<<"$row"
awk -v t="$targets" -v rate="$rate" -v cpu="$cpu" -v rss="$rss" -v failed="$failed" 'BEGIN {
    exit !(t == 20 && rate >= 3 && cpu > 0 && cpu < 100 && rss > 1 && rss < 1024 && failed == 0)
  }' || fail "run.sh: implausible row: $row"
grep -q "^greeting error smoke .*n=[1-9]" "$OUT/run.txt" || fail "run.sh: no greeting error line"
# The flatness limits are lifted (a 10 s run measures warm-up, not leaks) and the deadline margin
# widened for a loaded CI machine; the deadline, DATA/BDAT, catch-all, scrape and crash checks stay.
TARGETS=80 MARGIN_MS=1000 MAX_RSS_GROWTH_PCT=100000 MAX_FD_GROWTH=100000 WORK="$OUT/soak" \
  bash "$HERE/soak.sh" 400 >"$OUT/soak.txt" 2>"$OUT/soak.log" ||
  { status=$?; cat "$OUT/soak.log" "$OUT/soak.txt" >&2; fail "soak.sh exited with $status"; }
cat "$OUT/soak.txt"
for name in alive finished deadline-daemon deadline-server no-data catch-all scrapes; do
  grep -q "^PASS $name: " "$OUT/soak.txt" || fail "soak.sh: no PASS line for $name"
done
grep -q '^ 100% ' "$OUT/soak.txt" || fail "soak.sh: no 100 % row"

# In a namespace of its own, as the scripts above: the responder on 127.0.0.1:2525, then a plain
# and a STARTTLS probe's footprint.
"$HERE/../tests/netns.sh" bash -c '
  "$1" --first-address 127.0.0.1 --count 1 --port 2525 --banner-delay-ms 0 \
    --write-cert "$3/ca.pem" --max-seconds 60 2>"$3/footprint-responder.log" &
  responder=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/2525) 2>/dev/null && break; sleep 0.1; done
  "$2" 127.0.0.1:2525 && "$2" 127.0.0.1:2525 "$3/ca.pem"
  status=$?; kill "$responder"; exit $status' footprint "$SMTP_RESPONDER" "$5" "$OUT" >"$OUT/footprint.txt" ||
  { cat "$OUT/footprint.txt" >&2; fail "result_footprint failed"; }
cat "$OUT/footprint.txt"
[[ $(grep -c '^probe of 127.0.0.1:2525 (.*): success' "$OUT/footprint.txt") == 2 ]] ||
  fail "result_footprint: not two successful probes"
awk '/^stored result \(whole\)/ { n++; if (!($4 > 500 && $4 < 20000)) bad = 1 }
     END { exit !(n == 2 && !bad) }' "$OUT/footprint.txt" ||
  fail "result_footprint: implausible sizes"
echo "smoke_test: OK"
