#!/usr/bin/env bash
# jq filters are single-quoted on purpose ($vars in them are jq variables):
# shellcheck disable=SC2016
# End to end with a real Prometheus server (issue #3 "End to end"):
#
#   prometheus_e2e_test.sh /path/to/smtp_exporter
#
# Starts a closed Postfix (STARTTLS, test CA) and an open relay on 127.0.0.1
# (tests/integration/postfix_instance.sh), the daemon probing both, and Debian's Prometheus server
# (/usr/bin/prometheus, its own config and TSDB in a temp dir, never the system service) scraping
# the daemon's /metrics every second plus a second job using the /probe multi-target pattern
# (relabeling __param_target) for the closed Postfix. Then it polls Prometheus' HTTP API with
# PromQL until the expected values arrive (each bounded at 60 s): relay verdicts, probe success,
# greeting latency quantile, STARTTLS, certificate expiry, the /probe job, and up == 1 everywhere.
#
# Exit: 0 passed, 1 an assertion failed ("FAIL - ..." lines), 77 skipped (no postfix, not root).
# Only loopback traffic; nothing is ever delivered. Everything started here is stopped on exit.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 /path/to/smtp_exporter" >&2
  exit 2
fi
bin=$(realpath "$1")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=e2e_lib.sh
source "${here}/e2e_lib.sh"

e2e_require_root
prometheus=${PROMETHEUS:-/usr/bin/prometheus}
[[ -x "${prometheus}" ]] || die "${prometheus} is not installed (apt-get install prometheus)"
e2e_require curl jq openssl ss promtool timeout realpath
[[ -x "${bin}" ]] || die "${bin} is not an executable"

e2e_init prom
e2e_start_postfix
closed=127.0.0.1:${CLOSED_PORT}
open=127.0.0.1:${OPEN_PORT}
dport=$(e2e_free_port "${CLOSED_PORT}" "${OPEN_PORT}")
pport=$(e2e_free_port "${CLOSED_PORT}" "${OPEN_PORT}" "${dport}")

{
  e2e_module_yaml 5s
  cat <<EOF
targets:
  - address: ${closed}
    interval: 5s
    labels: {role: closed}
  - address: ${open}
    interval: 5s
    labels: {role: open}
probe_allowlist: [127.0.0.1/32]
EOF
} >"${E2E_TOP}/smtp_exporter.yml"

cat >"${E2E_TOP}/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: smtp_exporter
    static_configs:
      - targets: ['127.0.0.1:${dport}']
  # The blackbox-style multi-target pattern: Prometheus asks the exporter to probe the target
  # named in ?target=, and keeps the target as the instance label.
  - job_name: smtp_probe
    metrics_path: /probe
    params:
      module: [default]
    static_configs:
      - targets: ['${closed}']
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:${dport}
EOF
if out=$(promtool check config "${E2E_TOP}/prometheus.yml" 2>&1); then
  pass "promtool check config accepts the test's prometheus.yml"
else
  printf '%s\n' "${out}" | sed 's/^/#   /'
  die "promtool rejects the test's prometheus.yml"
fi

e2e_start_daemon "${bin}" "${dport}" "${E2E_TOP}/smtp_exporter.yml" --log.format json
dpid=${E2E_DAEMON_PID}

e2e_start_prometheus "${prometheus}" "${E2E_TOP}/prometheus.yml" "${pport}"
ppid_=${E2E_PROMETHEUS_PID}
pbase=${E2E_PROMETHEUS_BASE}

t_first=${SECONDS}
one_is() { printf 'length == 1 and .[0].value[1] == "%s"' "$1"; }

prom_expect "up == 1 for every job (smtp_exporter and smtp_probe)" 'up' \
  'length == 2 and all(.value[1] == "1") and ([.[].metric.job] | sort) == ["smtp_exporter", "smtp_probe"]'
prom_expect "smtp_relay_open == 1 for the open relay" \
  "smtp_relay_open{job=\"smtp_exporter\",target=\"${open}\"}" "$(one_is 1)"
prom_expect "smtp_relay_open == 0 for the closed Postfix" \
  "smtp_relay_open{job=\"smtp_exporter\",target=\"${closed}\"}" "$(one_is 0)"
prom_expect "smtp_relay_open == 1 selects exactly the open relay" \
  'smtp_relay_open{job="smtp_exporter"} == 1' \
  "length == 1 and .[0].metric.target == \"${open}\" and .[0].metric.role == \"open\""
prom_expect "smtp_relay_verdict: open for the open relay, closed for the closed Postfix" \
  'smtp_relay_verdict{job="smtp_exporter"} == 1' \
  "length == 2 and ([.[] | [.metric.target, .metric.verdict]] | sort) == ([[\"${open}\", \"open\"], [\"${closed}\", \"closed\"]] | sort)"
prom_expect "smtp_rcpt_catch_all == 0 for both (Postfix refuses a random local part)" \
  'smtp_rcpt_catch_all{job="smtp_exporter"} == 0' 'length == 2'
prom_expect "smtp_probe_success == 1 for both targets" \
  'smtp_probe_success{job="smtp_exporter"}' \
  "length == 2 and all(.value[1] == \"1\") and ([.[].metric.target] | sort) == ([\"${closed}\", \"${open}\"] | sort)"
prom_expect "histogram_quantile(0.5, rate(smtp_greeting_duration_seconds_bucket[1m])) has a value per target" \
  'histogram_quantile(0.5, rate(smtp_greeting_duration_seconds_bucket{job="smtp_exporter"}[1m]))' \
  'length == 2 and all(.value[1] != "NaN" and (.value[1] | tonumber) > 0 and (.value[1] | tonumber) < 5)'
prom_expect "smtp_starttls_success == 1 for the closed Postfix" \
  "smtp_starttls_success{job=\"smtp_exporter\",target=\"${closed}\"}" "$(one_is 1)"
prom_expect "smtp_tls_cert_verified == 1 for the closed Postfix (test CA)" \
  "smtp_tls_cert_verified{job=\"smtp_exporter\",target=\"${closed}\"}" "$(one_is 1)"
prom_expect "smtp_tls_cert_not_after_timestamp_seconds > time() for the closed Postfix" \
  "smtp_tls_cert_not_after_timestamp_seconds{job=\"smtp_exporter\",target=\"${closed}\"} > time()" \
  'length == 1'
prom_expect "the certificate expires in 20..31 days (made with -days 30)" \
  "(smtp_tls_cert_not_after_timestamp_seconds{job=\"smtp_exporter\",target=\"${closed}\"} - time()) / 86400" \
  'length == 1 and ((.[0].value[1] | tonumber) > 20) and ((.[0].value[1] | tonumber) < 31)'
prom_expect "/probe job: smtp_probe_success == 1 for instance ${closed}, without a target label" \
  "smtp_probe_success{job=\"smtp_probe\",instance=\"${closed}\"}" \
  "$(one_is 1) and .[0].metric.target == null"
prom_expect "/probe job: smtp_relay_open == 0 and smtp_starttls_success == 1" \
  "smtp_relay_open{job=\"smtp_probe\"} + on(instance) smtp_starttls_success{job=\"smtp_probe\"}" \
  "$(one_is 1)"
prom_expect "smtp_exporter_config_last_reload_successful == 1" \
  'smtp_exporter_config_last_reload_successful{job="smtp_exporter"}' "$(one_is 1)"
prom_expect "the greeting histogram accumulates (_count increased over 1m)" \
  'increase(smtp_greeting_duration_seconds_count{job="smtp_exporter"}[1m]) > 0' 'length == 2'
note "first query to last assertion: $((SECONDS - t_first)) s"

# Prometheus' own view of its targets: all healthy, no scrape errors.
targets=$(curl -s --max-time 10 "${pbase}/api/v1/targets")
if jq -e '.data.activeTargets | length == 2 and all(.health == "up" and .lastError == "")' \
  >/dev/null <<<"${targets}"; then
  pass "/api/v1/targets: both scrape targets healthy, no scrape errors"
else
  fail "/api/v1/targets: $(jq -c '[.data.activeTargets[] | {job: .labels.job, health, lastError}]' <<<"${targets}")"
fi

# The daemon logs the open relay's state as open_relay (it is up), never as down.
check "the daemon logged the open relay as state open_relay, with its proof" \
  jq -e -s --arg t "${open}" \
  'any(.[]; .msg == "target state changed" and .target == $t and .state == "open_relay"
       and (.relay | test("^OPEN: ")))' "${E2E_TOP}/daemon.log"
check "the daemon logged no target as down" \
  jq -e -s 'all(.[]; .msg != "target state changed" or .state != "down")' "${E2E_TOP}/daemon.log"

# The daemon's json logs are one JSON object per line.
if jq -e -s 'length > 0 and all(type == "object")' "${E2E_TOP}/daemon.log" >/dev/null 2>&1; then
  pass "--log.format json: every log line is a JSON object ($(grep -c . "${E2E_TOP}/daemon.log") lines)"
else
  fail "--log.format json: the log is not one JSON object per line"
  e2e_dump_log daemon 10
fi

e2e_finish_with_prometheus "${ppid_}" "${dpid}"
