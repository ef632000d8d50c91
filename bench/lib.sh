# Shell helpers shared by bench/run.sh and bench/compare.sh (sourced, not run).

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
