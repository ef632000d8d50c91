# Shell helpers shared by bench/run.sh, bench/compare.sh and bench/soak.sh (sourced, not run).

# Re-runs the calling script ("$0" "$@") under tests/netns.sh, in a network namespace of its own
# whose only interface is lo, up: nothing a benchmark starts can reach another machine. Raises
# the open-files limit to the hard limit first (benchmarks hold thousands of connections).
# Returns at once when already inside such a namespace (SMTP_EXPORTER_NETNS=1, set by netns.sh).
# Unlike the tests, a benchmark never runs on the host's network: netns.sh's escape hatch
# (SMTP_EXPORTER_NO_NETNS=1) is not passed on. Needs root (unshare -n).
enter_netns() {
  ulimit -n "$(ulimit -Hn)"
  [[ ${SMTP_EXPORTER_NETNS:-} == 1 ]] && return 0
  exec env -u SMTP_EXPORTER_NO_NETNS "$(dirname "${BASH_SOURCE[0]}")/../tests/netns.sh" \
    bash "$0" "$@"
}

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

stop_pid() {  # stop_pid PID: TERM, then KILL after 5 s; only processes started here
  local pid=$1
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime+stime of a whole process
kib() { awk -v key="$2:" '$1 == key {print $2}' "/proc/$1/status"; }  # kib PID VmRSS
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p"; }  # field NAME < "a=1 b=2"
calc() { python3 -c "from math import nan, inf, isnan; print($1)"; }
