# shellcheck shell=bash
# Shared helpers for the end-to-end tests in this folder (sourced, not run). They exercise the
# built smtp_exporter daemon over HTTP, against real Postfix instances on 127.0.0.1 started with
# tests/integration/postfix_instance.sh (reused, not copied).
#
#   e2e_init NAME          temp dir ${E2E_TOP}, EXIT trap that stops everything started here
#   e2e_require_root       exit 77 without postfix or without root (Postfix's master needs root)
#   e2e_require TOOL...    FAIL (exit 1) when a required tool is missing
#   e2e_start_postfix      CA + closed relay (STARTTLS) + open relay; sets CLOSED_PORT, OPEN_PORT,
#                          E2E_CA (the test CA that signed mx.test; ${E2E_TOP}/ca/ca.pem).
#                          When the caller defines e2e_postfix_configure DIR FLAVOUR, it runs
#                          between pf_create and pf_start of each instance (extra main.cf settings)
#   e2e_bg NAME CMD...     starts CMD in the background (stdout+stderr to ${E2E_TOP}/NAME.log),
#                          registers it for cleanup; its pid in ${E2E_LAST_PID}
#   e2e_stop PID [SECS]    SIGTERM, wait up to SECS (default 10), then SIGKILL
#   wait_until SECS DESC CMD...   polls CMD every 0.25 s; 0 when it succeeded in time
#   http_get URL FILE [curl args...]   prints the status code, body in FILE (000 = no answer)
#   series_value FILE NAME [k="v"...]  prints the value of the first series of metric NAME
#                          that carries every given label pair (exposition format text)
#   prom_query PROMQL / prom_expect DESC PROMQL JQ-FILTER   ask / poll the Prometheus of
#                          e2e_start_prometheus
#   pass / fail / e2e_summary
#
# Only loopback traffic: every address used is in 127.0.0.0/8 (plus 192.0.2.1 and a .invalid name
# that the /probe allowlist test proves are never contacted or resolved). Nothing is delivered: the
# Postfix instances discard everything and refuse DATA, and the probes never send it.

PATH=${PATH}:/usr/sbin:/sbin
# Never send the tests' HTTP requests through a proxy from the environment.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy='*' NO_PROXY='*'

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../integration/postfix_instance.sh
source "${E2E_LIB_DIR}/../integration/postfix_instance.sh"

E2E_FAILURES=0
E2E_PIDS=()
E2E_TOP=""
E2E_LAST_PID=""
E2E_T0=${SECONDS}

pass() { printf 'ok - %s\n' "$*"; }
fail() {
  printf 'FAIL - %s\n' "$*"
  E2E_FAILURES=$((E2E_FAILURES + 1))
}
# check DESC CMD...: pass when CMD succeeds.
check() {
  local desc=$1
  shift
  if "$@" >/dev/null; then pass "${desc}"; else fail "${desc}"; fi
}
# Setup failures abort the test.
die() {
  printf 'FAIL - %s\n' "$*"
  exit 1
}
note() { printf '# %s\n' "$*"; }

e2e_require_root() {
  if ! command -v postfix >/dev/null 2>&1; then
    echo "SKIP: postfix is not installed (apt-get install postfix)"
    exit 77
  fi
  if [[ ${EUID} -ne 0 ]]; then
    echo "SKIP: must run as root to start a Postfix master"
    exit 77
  fi
}

e2e_require() {
  local tool
  for tool in "$@"; do
    command -v "${tool}" >/dev/null 2>&1 || die "required tool '${tool}' is not installed"
  done
}

e2e_cleanup() {
  local rc=$? i
  trap - EXIT
  for ((i = ${#E2E_PIDS[@]} - 1; i >= 0; i--)); do
    e2e_stop "${E2E_PIDS[i]}" 5
  done
  pf_stop_all
  if [[ -n "${E2E_TOP}" && -d "${E2E_TOP}" ]]; then
    # No leftovers, even on failure (the failure output has the logs' tails); set
    # SMTP_EXPORTER_KEEP_TMP=1 to keep configs, logs and scrapes for a closer look.
    if [[ "${SMTP_EXPORTER_KEEP_TMP:-0}" == 1 ]]; then
      echo "(temp dir kept for inspection: ${E2E_TOP})"
    else
      rm -rf "${E2E_TOP}"
    fi
  fi
  exit "${rc}"
}

e2e_init() {
  E2E_TOP=$(mktemp -d "/tmp/smtp-exporter-e2e-$1.XXXXXX")
  trap e2e_cleanup EXIT
  trap 'exit 130' INT TERM
}

e2e_start_postfix() {
  pf_make_ca "${E2E_TOP}/ca"
  # shellcheck disable=SC2034 # for the sourcing scripts
  E2E_CA=${E2E_TOP}/ca/ca.pem
  CLOSED_PORT=$(pf_free_port)
  pf_create "${E2E_TOP}/pf-closed" closed "${CLOSED_PORT}" "${E2E_TOP}/ca" >/dev/null
  if declare -F e2e_postfix_configure >/dev/null; then
    e2e_postfix_configure "${E2E_TOP}/pf-closed" closed || die "configuring the closed Postfix failed"
  fi
  pf_start "${E2E_TOP}/pf-closed" || die "closed Postfix did not start"
  OPEN_PORT=$(pf_free_port)
  while [[ "${OPEN_PORT}" == "${CLOSED_PORT}" ]]; do OPEN_PORT=$(pf_free_port); done
  pf_create "${E2E_TOP}/pf-open" open "${OPEN_PORT}" "${E2E_TOP}/ca" >/dev/null
  if declare -F e2e_postfix_configure >/dev/null; then
    e2e_postfix_configure "${E2E_TOP}/pf-open" open || die "configuring the open Postfix failed"
  fi
  pf_start "${E2E_TOP}/pf-open" || die "open Postfix did not start"
}

# A free port that is not one of the given ones.
e2e_free_port() {
  local port taken
  while :; do
    port=$(pf_free_port) || return 1
    for taken in "$@"; do [[ "${port}" == "${taken}" ]] && continue 2; done
    printf '%s\n' "${port}"
    return 0
  done
}

e2e_bg() {
  local name=$1
  shift
  "$@" >"${E2E_TOP}/${name}.log" 2>&1 &
  E2E_LAST_PID=$!
  E2E_PIDS+=("${E2E_LAST_PID}")
}

e2e_alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ "${state}" != Z ]]
}

# e2e_stop PID [SECS]: 0 when the process ended on SIGTERM within SECS.
e2e_stop() {
  local pid=$1 secs=${2:-10} i rc=0
  e2e_alive "${pid}" || {
    wait "${pid}" 2>/dev/null || true
    return 0
  }
  kill -TERM "${pid}" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    e2e_alive "${pid}" || break
    sleep 0.1
  done
  if e2e_alive "${pid}"; then
    kill -KILL "${pid}" 2>/dev/null || true
    rc=1
  fi
  wait "${pid}" 2>/dev/null || true
  return "${rc}"
}

wait_until() {
  local secs=$1 desc=$2 deadline
  shift 2
  deadline=$((SECONDS + secs))
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  "$@" >/dev/null 2>&1 && return 0
  note "gave up after ${secs}s waiting for: ${desc}"
  return 1
}

http_get() {
  local url=$1 file=$2
  shift 2
  curl -s --max-time 30 -o "${file}" -w '%{http_code}' "$@" "${url}" || true
}

# series_value FILE NAME [k="v"...]
series_value() {
  local file=$1 name=$2
  shift 2
  awk -v name="${name}" -v want="$*" '
    /^#/ || NF < 2 { next }
    {
      brace = 0
      for (i = length($0); i > 0; i--) if (substr($0, i, 1) == "}") { brace = i; break }
      if (brace) { series = substr($0, 1, brace); rest = substr($0, brace + 1) }
      else { series = $1; rest = substr($0, length($1) + 1) }
      sub(/^ +/, "", rest); value = rest; sub(/ .*/, "", value)
      metric = series; sub(/\{.*/, "", metric)
      if (metric != name) next
      labels = series; sub(/^[^{]*/, "", labels)
      n = split(want, pairs, " ")
      for (i = 1; i <= n; i++) {
        if (index(labels, "{" pairs[i]) == 0 && index(labels, "," pairs[i]) == 0) next
      }
      print value; found = 1; exit
    }
    END { exit found ? 0 : 1 }' "${file}"
}

# series_is FILE NAME VALUE [k="v"...]: the series exists and has exactly VALUE.
series_is() {
  local file=$1 name=$2 want=$3 got
  shift 3
  got=$(series_value "${file}" "${name}" "$@") || return 1
  [[ "${got}" == "${want}" ]]
}

e2e_summary() {
  local elapsed=$((SECONDS - E2E_T0))
  if ((E2E_FAILURES > 0)); then
    printf '# %d assertion(s) failed (%d s)\n' "${E2E_FAILURES}" "${elapsed}"
    return 1
  fi
  printf '# all assertions passed (%d s)\n' "${elapsed}"
}

# e2e_dump_log NAME: the last lines of a background process's log, for diagnosis.
e2e_dump_log() {
  local file=${E2E_TOP}/$1.log
  [[ -r "${file}" ]] || return 0
  echo "# --- last lines of $1.log ---"
  tail -n "${2:-30}" "${file}" | sed 's/^/#   /'
}

# e2e_start_daemon BIN PORT CONFIG [FLAG...]: starts smtp_exporter on 127.0.0.1:PORT and waits
# (30 s at most) until /-/healthy answers; sets E2E_DAEMON_PID. Dies with the daemon's log when
# it does not come up.
e2e_start_daemon() {
  local bin=$1 port=$2 config=$3
  shift 3
  e2e_bg daemon "${bin}" --config.file "${config}" --web.listen-address "127.0.0.1:${port}" "$@"
  # shellcheck disable=SC2034  # read by the calling script
  E2E_DAEMON_PID=${E2E_LAST_PID}
  # shellcheck disable=SC2317  # called through wait_until
  e2e_daemon_healthy() { [[ "$(http_get "http://127.0.0.1:${port}/-/healthy" /dev/null)" == 200 ]]; }
  wait_until 30 "daemon /-/healthy" e2e_daemon_healthy || {
    e2e_dump_log daemon
    die "the daemon did not answer on 127.0.0.1:${port} within 30 s"
  }
  pass "daemon listening on 127.0.0.1:${port}"
}

# e2e_start_prometheus BIN CONFIG PORT: starts a Prometheus server with its own TSDB under
# E2E_TOP on 127.0.0.1:PORT and waits (60 s at most) until /-/ready; sets E2E_PROMETHEUS_PID and
# E2E_PROMETHEUS_BASE.
e2e_start_prometheus() {
  local bin=$1 config=$2 port=$3 started=${SECONDS}
  mkdir -p "${E2E_TOP}/tsdb"
  e2e_bg prometheus "${bin}" --config.file="${config}" \
    --storage.tsdb.path="${E2E_TOP}/tsdb" --web.listen-address="127.0.0.1:${port}"
  # shellcheck disable=SC2034  # read by the calling script
  E2E_PROMETHEUS_PID=${E2E_LAST_PID}
  E2E_PROMETHEUS_BASE=http://127.0.0.1:${port}
  # shellcheck disable=SC2317  # called through wait_until
  e2e_prometheus_ready() { [[ "$(http_get "${E2E_PROMETHEUS_BASE}/-/ready" /dev/null)" == 200 ]]; }
  wait_until 60 "prometheus /-/ready" e2e_prometheus_ready || {
    e2e_dump_log prometheus
    die "Prometheus did not become ready on 127.0.0.1:${port} within 60 s"
  }
  pass "Prometheus ready on 127.0.0.1:${port} ($((SECONDS - started)) s)"
}

# prom_query PROMQL: the answer of the Prometheus started by e2e_start_prometheus (its API's JSON).
prom_query() {
  curl -s --max-time 10 -G --data-urlencode "query=$1" "${E2E_PROMETHEUS_BASE}/api/v1/query"
}

# prom_expect DESC PROMQL JQ-FILTER: polls (60 s at most) until the filter holds for the query's
# result; records pass (with the values) or fail (with the last answer) and never aborts.
prom_expect() {
  local desc=$1 promql=$2 filter=$3 answer="" deadline=$((SECONDS + 60)) t0=${SECONDS}
  while :; do
    answer=$(prom_query "${promql}" || true)
    if jq -e "(.status == \"success\") and (.data.result | ${filter})" >/dev/null 2>&1 <<<"${answer}"; then
      pass "${desc} ($((SECONDS - t0)) s): $(jq -c '[.data.result[] | .value[1]]' <<<"${answer}")"
      return 0
    fi
    ((SECONDS < deadline)) || break
    sleep 1
  done
  fail "${desc}: ${promql} -> $(jq -c '.data.result // .' <<<"${answer}" 2>/dev/null || echo "${answer}")"
}

# e2e_module_yaml RELAY_INTERVAL: the `modules:` section the e2e configs share: STARTTLS
# verified against the test CA, and a relay test every RELAY_INTERVAL with two variants (Postfix
# takes about a second per accepted RCPT on the open relay; two keep a probe inside its timeout).
e2e_module_yaml() {
  cat <<EOF
modules:
  default:
    timeout: 5s
    ehlo_name: probe.e2e.test
    starttls: opportunistic
    tls: {verify: true, server_name: mx.test, ca_file: ${E2E_CA}}
    relay_test:
      enabled: true
      interval: $1
      variants: [null_sender, external]
EOF
}

# e2e_finish_with_prometheus PROMETHEUS_PID DAEMON_PID: stops both (checking they stop on
# SIGTERM), checks that neither Postfix queued mail, prints logs on failure and the summary.
e2e_finish_with_prometheus() {
  check "Prometheus stops on SIGTERM within 30 s" e2e_stop "$1" 30
  check "daemon stops on SIGTERM within 10 s" e2e_stop "$2" 10
  local queued
  queued=$(
    pf_queue_files "${E2E_TOP}/pf-closed"
    pf_queue_files "${E2E_TOP}/pf-open"
  )
  check "no mail in either Postfix queue" test -z "${queued}"
  if ((E2E_FAILURES > 0)); then
    e2e_dump_log daemon 20
    e2e_dump_log prometheus 20
  fi
  e2e_summary
}
