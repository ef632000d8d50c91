#!/usr/bin/env bash
# End-to-end test of the smtp_exporter daemon's HTTP surface (DESIGN §2, issue #3 "HTTP"):
#
#   daemon_http_test.sh /path/to/smtp_exporter
#
# Starts two throwaway Postfix instances on 127.0.0.1 (a closed relay with STARTTLS and a test CA,
# and an open relay; tests/integration/postfix_instance.sh), runs the built daemon against them on
# 127.0.0.1:<free port> and checks with curl every endpoint and status code: /metrics (series,
# gzip, promtool), /probe (allowed, 403 without any connection attempt, 400s, debug), /, the
# transcript page, /-/healthy, /-/ready, 404, 405, reload good/bad over HTTP and SIGHUP, a target
# removed by reload, --config.check, malformed requests, SIGTERM; then a second daemon with
# --web.config.file: TLS (certificate made here) and bcrypt basic auth (hashes made here).
#
# Exit: 0 passed, 1 an assertion failed ("FAIL - ..." lines), 77 skipped (no postfix, not root).
# Only loopback traffic; nothing is ever delivered.
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
e2e_require curl openssl ss promtool strace gzip perl timeout realpath
[[ -x "${bin}" ]] || die "${bin} is not an executable"

e2e_init http
e2e_start_postfix
closed=127.0.0.1:${CLOSED_PORT}
open=127.0.0.1:${OPEN_PORT}
# A closed port the allowlist names (probe_allowlist entries allow only the ports they name).
unused_port=$(e2e_free_port "${CLOSED_PORT}" "${OPEN_PORT}")

# write_config FILE WITH_OPEN: the closed relay always, the open relay when WITH_OPEN is 1.
# ca_file is relative on purpose: it resolves against the config file's folder.
write_config() {
  local file=$1 with_open=$2
  cat >"${file}.tmp" <<EOF
# Written by daemon_http_test.sh.
modules:
  default:
    timeout: 5s
    ehlo_name: probe.e2e.test
    starttls: opportunistic
    tls: {verify: true, server_name: mx.test, ca_file: ca/ca.pem}
    relay_test:
      enabled: true
      interval: 5s
      # Postfix takes about a second per accepted RCPT on the open relay: two variants keep a
      # probe well inside the timeout.
      variants: [null_sender, external]
targets:
  - address: ${closed}
    interval: 5s
    labels: {role: closed}
EOF
  if [[ "${with_open}" == 1 ]]; then
    cat >>"${file}.tmp" <<EOF
  - address: ${open}
    interval: 5s
    labels: {role: open}
EOF
  fi
  cat >>"${file}.tmp" <<EOF
probe_allowlist:
  - 127.0.0.0/8:${unused_port}
EOF
  mv "${file}.tmp" "${file}"
}

cfg=${E2E_TOP}/smtp_exporter.yml
write_config "${cfg}" 1
tmp=${E2E_TOP}/work
mkdir -p "${tmp}"

# ---------------------------------------------------------------------------------------------
note "--config.check"
set +e
out=$("${bin}" --config.file "${cfg}" --config.check 2>&1)
rc=$?
set -e
if [[ ${rc} -eq 0 && "${out}" == *OK* ]]; then
  pass "--config.check on a good file exits 0 (${out})"
else
  fail "--config.check on a good file: exit ${rc}, output: ${out}"
fi

# check_bad NAME EXPECTED-SUBSTRING: FILE ${tmp}/NAME.yml must fail with exit 1 and one line.
check_bad() {
  local name=$1 expected=$2 file=${tmp}/$1.yml out rc lines
  set +e
  out=$("${bin}" --config.file "${file}" --config.check 2>&1)
  rc=$?
  set -e
  lines=$(printf '%s\n' "${out}" | grep -c .)
  if [[ ${rc} -eq 1 && ${lines} -eq 1 && "${out}" == *"${expected}"* ]]; then
    pass "--config.check ${name}: exit 1, one line: ${out}"
  else
    fail "--config.check ${name}: exit ${rc}, ${lines} line(s), want '${expected}': ${out}"
  fi
}
cat >"${tmp}/bad_module.yml" <<EOF
modules:
  default: {timeout: 5s}
targets:
  - address: ${closed}
    module: strct
EOF
check_bad bad_module 'targets[0].module: unknown module "strct" (line 5)'
cat >"${tmp}/bad_key.yml" <<EOF
modules:
  default:
    timeout: 5s
    starttls: opportunistic
    relay_tset: {enabled: true}
targets:
  - address: ${closed}
EOF
check_bad bad_key 'modules.default.relay_tset' # the message names the key path
check_bad bad_key '(line 5)'
cat >"${tmp}/bad_duration.yml" <<EOF
targets:
  - address: ${closed}
    interval: 5x
EOF
check_bad bad_duration 'targets[0].interval'
set +e
"${bin}" --config.file "${tmp}/does-not-exist.yml" --config.check >/dev/null 2>&1
rc=$?
set -e
check "--config.check on a missing file exits non-zero (${rc})" test "${rc}" -ne 0

# ---------------------------------------------------------------------------------------------
note "starting the daemon"
port=$(e2e_free_port "${CLOSED_PORT}" "${OPEN_PORT}" "${unused_port}")
base=http://127.0.0.1:${port}
e2e_bg daemon "${bin}" --config.file "${cfg}" --web.listen-address "127.0.0.1:${port}" \
  --log.level info
dpid=${E2E_LAST_PID}
t_start=${SECONDS}
healthy() { [[ "$(http_get "${base}/-/healthy" /dev/null)" == 200 ]]; }
if ! wait_until 30 "/-/healthy" healthy; then
  e2e_dump_log daemon
  die "the daemon did not answer /-/healthy on 127.0.0.1:${port} within 30 s"
fi
pass "daemon listens on 127.0.0.1:${port} ($((SECONDS - t_start)) s)"

metrics=${tmp}/metrics.txt
scrape() { [[ "$(http_get "${base}/metrics" "${metrics}")" == 200 ]]; }
first_results() {
  scrape &&
    series_value "${metrics}" smtp_probe_success "target=\"${closed}\"" &&
    series_value "${metrics}" smtp_probe_success "target=\"${open}\"" &&
    series_value "${metrics}" smtp_relay_open "target=\"${closed}\"" &&
    series_value "${metrics}" smtp_relay_open "target=\"${open}\""
}
t_start=${SECONDS}
if wait_until 60 "first probe results of both targets" first_results; then
  pass "first results of both targets in /metrics after $((SECONDS - t_start)) s"
else
  e2e_dump_log daemon
  die "no probe results within 60 s"
fi

# ---------------------------------------------------------------------------------------------
note "/metrics"
code=$(http_get "${base}/metrics" "${metrics}" -D "${tmp}/metrics.headers")
check "GET /metrics -> 200 (${code})" test "${code}" = 200
check "/metrics Content-Type is the text exposition format 0.0.4" \
  grep -qi '^Content-Type: text/plain; version=0.0.4' "${tmp}/metrics.headers"
check "/metrics not gzipped when not asked" \
  bash -c "! grep -qi '^Content-Encoding:' '${tmp}/metrics.headers'"
for t in "${closed}" "${open}"; do
  check "smtp_probe_success{target=\"${t}\"} 1" series_is "${metrics}" smtp_probe_success 1 "target=\"${t}\""
  check "smtp_starttls_success{target=\"${t}\"} 1" series_is "${metrics}" smtp_starttls_success 1 "target=\"${t}\""
  check "smtp_greeting_duration_seconds histogram for ${t} (+Inf bucket, _sum, _count)" \
    bash -c "grep -q '^smtp_greeting_duration_seconds_bucket{target=\"${t}\".*le=\"+Inf\"} [1-9]' '${metrics}' &&
             grep -q '^smtp_greeting_duration_seconds_sum{target=\"${t}\"' '${metrics}' &&
             grep -q '^smtp_greeting_duration_seconds_count{target=\"${t}\".*} [1-9]' '${metrics}'"
done
check "smtp_relay_open 0 for the closed Postfix" series_is "${metrics}" smtp_relay_open 0 "target=\"${closed}\"" 'role="closed"'
check "smtp_relay_open 1 for the open relay" series_is "${metrics}" smtp_relay_open 1 "target=\"${open}\"" 'role="open"'
check "smtp_relay_test_result external=refused on the closed Postfix" \
  series_is "${metrics}" smtp_relay_test_result 1 "target=\"${closed}\"" 'variant="external"' 'result="refused"'
check "smtp_relay_test_result external=accepted on the open relay" \
  series_is "${metrics}" smtp_relay_test_result 1 "target=\"${open}\"" 'variant="external"' 'result="accepted"'
check "smtp_tls_cert_verified 1 (relative ca_file resolved against the config folder)" \
  series_is "${metrics}" smtp_tls_cert_verified 1 "target=\"${closed}\""
check "smtp_greeting_duration_seconds is TYPE histogram" \
  grep -qx '# TYPE smtp_greeting_duration_seconds histogram' "${metrics}"
check "smtp_greeting_info names Postfix" \
  grep -q "^smtp_greeting_info{target=\"${closed}\".*software=\"Postfix\"" "${metrics}"
check "smtp_exporter_config_last_reload_successful 1" \
  series_is "${metrics}" smtp_exporter_config_last_reload_successful 1
for self_metric in smtp_exporter_build_info smtp_exporter_probes_in_flight \
  smtp_exporter_config_last_reload_success_timestamp_seconds smtp_probe_last_run_timestamp_seconds; do
  check "${self_metric} present" series_value "${metrics}" "${self_metric}"
done
check "smtp_exporter_probes_total{result=\"success\"} > 0" \
  bash -c "grep -Eq '^smtp_exporter_probes_total\{result=\"success\"\} [1-9]' '${metrics}'"
if promtool_out=$(promtool check metrics <"${metrics}" 2>&1) && [[ -z "${promtool_out}" ]]; then
  pass "promtool check metrics is clean"
else
  fail "promtool check metrics: ${promtool_out}"
fi

code=$(http_get "${base}/metrics" "${tmp}/metrics.gz" -H 'Accept-Encoding: gzip' -D "${tmp}/gz.headers")
check "GET /metrics with Accept-Encoding: gzip -> 200 (${code})" test "${code}" = 200
check "... answered with Content-Encoding: gzip" grep -qi '^Content-Encoding: gzip' "${tmp}/gz.headers"
if gzip -dc "${tmp}/metrics.gz" >"${tmp}/metrics.gunzipped" 2>/dev/null &&
  grep -q '^smtp_probe_success{' "${tmp}/metrics.gunzipped"; then
  pass "... which decompresses to the exposition ($(stat -c %s "${tmp}/metrics.gz") -> $(stat -c %s "${tmp}/metrics.gunzipped") bytes)"
else
  fail "... the gzip body does not decompress to metrics"
fi

# ---------------------------------------------------------------------------------------------
note "/probe"
body=${tmp}/probe.txt
code=$(http_get "${base}/probe?target=${closed}&module=default" "${body}")
check "/probe configured closed Postfix -> 200 (${code})" test "${code}" = 200
check "... smtp_probe_success 1" series_is "${body}" smtp_probe_success 1
check "... smtp_relay_open 0" series_is "${body}" smtp_relay_open 0
check "... smtp_starttls_success 1" series_is "${body}" smtp_starttls_success 1
check "... no target label in /probe output" bash -c "! grep -q 'target=' '${body}'"
if promtool_out=$(promtool check metrics <"${body}" 2>&1) && [[ -z "${promtool_out}" ]]; then
  pass "... promtool check metrics is clean on /probe output"
else
  fail "... promtool check metrics on /probe output: ${promtool_out}"
fi
code=$(http_get "${base}/probe?target=${open}" "${body}")
check "/probe open relay (module defaulted) -> 200 (${code})" test "${code}" = 200
check "... smtp_relay_open 1" series_is "${body}" smtp_relay_open 1

# The 403 must come before any network activity. strace watches the daemon's connect/sendto
# calls while the forbidden requests run; a third, allowed request to a closed port on
# 127.0.0.2 is the positive control (its connect must show up, or the tracer saw nothing).
trace=${tmp}/strace.out
strace -f -qq -e trace=connect,sendto,sendmsg -s 64 -p "${dpid}" -o "${trace}" \
  2>"${tmp}/strace.err" &
strace_pid=$!
sleep 0.2
attached() { [[ -s "${trace}" ]] || grep -q attached "${tmp}/strace.err"; }
# -qq hides "attached"; wait until the tracer is in place: the first syscall of the daemon
# (its scheduled probes, its HTTP answers) shows up; a /-/healthy request forces one.
for _ in $(seq 1 100); do
  http_get "${base}/-/healthy" /dev/null >/dev/null
  [[ -s "${trace}" ]] && break
  sleep 0.1
done
attached || fail "strace did not attach to the daemon (ptrace not permitted?)"
t_ms=$(date +%s%3N)
code=$(http_get "${base}/probe?target=192.0.2.1:25" "${body}")
t_ms=$(($(date +%s%3N) - t_ms))
check "/probe 192.0.2.1:25 (not allowed) -> 403 (${code}, ${t_ms} ms)" test "${code}" = 403
check "... the answer says why" grep -q 'probe_allowlist' "${body}"
code=$(http_get "${base}/probe?target=127.0.0.2:${CLOSED_PORT}" "${body}")
check "/probe 127.0.0.2:${CLOSED_PORT} (allowed host, port not named) -> 403 (${code})" \
  test "${code}" = 403
code=$(http_get "${base}/probe?target=relay.not-allowed.invalid:25" "${body}")
check "/probe relay.not-allowed.invalid:25 (not allowed name) -> 403 (${code})" test "${code}" = 403
code=$(http_get "${base}/probe?target=127.0.0.2:${unused_port}" "${body}")
check "/probe 127.0.0.2:${unused_port} (allowlisted, closed port) -> 200 (${code})" test "${code}" = 200
check "... smtp_probe_success 0" series_is "${body}" smtp_probe_success 0
check "... smtp_probe_failure_info{step=\"connect\",reason=\"refused\"} 1" \
  series_is "${body}" smtp_probe_failure_info 1 'step="connect"' 'reason="refused"'
sleep 0.3
kill "${strace_pid}" 2>/dev/null || true
wait "${strace_pid}" 2>/dev/null || true
if grep -q 'inet_addr("127.0.0.2")' "${trace}"; then
  pass "strace saw the control connect to 127.0.0.2:${unused_port}"
  check "no connection was attempted to 192.0.2.1" bash -c "! grep -q '192\.0\.2\.1\"' '${trace}'"
  check "no connection was attempted to 127.0.0.2:${CLOSED_PORT} (port not allowed)" \
    bash -c "! grep -q 'htons(${CLOSED_PORT}), sin_addr=inet_addr(\"127.0.0.2\")' '${trace}'"
  check "no DNS query for the forbidden name (nothing sent to port 53)" \
    bash -c "! grep -q 'htons(53)' '${trace}' && ! grep -v 'HTTP/1.1 ' '${trace}' | grep -q 'not-allowed'"
else
  fail "strace did not see the control connect to 127.0.0.2; cannot prove the 403 made no connection"
  sed 's/^/#   /' "${tmp}/strace.err" | head -5
fi

code=$(http_get "${base}/probe" "${body}")
check "/probe without target -> 400 (${code})" test "${code}" = 400
code=$(http_get "${base}/probe?target=" "${body}")
check "/probe with empty target -> 400 (${code})" test "${code}" = 400
code=$(http_get "${base}/probe?target=${closed}&module=nope" "${body}")
check "/probe with unknown module -> 400 (${code})" test "${code}" = 400
check "... names the module" grep -q 'nope' "${body}"
code=$(http_get "${base}/probe?target=127.0.0.1:99999" "${body}")
check "/probe with port 99999 -> 400 (${code})" test "${code}" = 400
code=$(http_get "${base}/probe?target=${closed}" "${body}" -X POST)
check "POST /probe -> 405 (${code})" test "${code}" = 405

code=$(http_get "${base}/probe?target=${closed}&module=default&debug=true" "${body}")
check "/probe debug=true -> 200 (${code})" test "${code}" = 200
check "... shows the transcript: banner" grep -q 'S: 220 mx.test ESMTP Postfix' "${body}"
check "... shows the transcript: EHLO, STARTTLS, MAIL, RCPT, QUIT" \
  bash -c "grep -q 'C: EHLO probe.e2e.test' '${body}' && grep -q 'C: STARTTLS' '${body}' &&
           grep -q 'C: MAIL FROM:' '${body}' && grep -q 'C: RCPT TO:' '${body}' && grep -q 'C: QUIT' '${body}'"
check "... never DATA or BDAT" bash -c "! grep -Eq 'C: (DATA|BDAT)' '${body}'"
check "... and the metrics" grep -q '^smtp_probe_success 1' "${body}"

# ---------------------------------------------------------------------------------------------
note "status page, transcript page, health, routing"
code=$(http_get "${base}/" "${body}" -D "${tmp}/status.headers")
check "GET / -> 200 (${code})" test "${code}" = 200
check "... text/html" grep -qi '^Content-Type: text/html' "${tmp}/status.headers"
check "... lists both targets" bash -c "grep -qF '${closed}' '${body}' && grep -qF '${open}' '${body}'"
code=$(http_get "${base}/transcript?target=${closed}&module=default" "${body}")
check "GET /transcript for the closed Postfix -> 200 (${code})" test "${code}" = 200
check "... shows its banner" grep -q '220 mx.test ESMTP Postfix' "${body}"
code=$(http_get "${base}/transcript?target=127.0.0.1:1&module=default" "${body}")
check "GET /transcript for an unknown target -> 404 (${code})" test "${code}" = 404
code=$(http_get "${base}/transcript" "${body}")
check "GET /transcript without parameters -> 400 (${code})" test "${code}" = 400
code=$(http_get "${base}/-/healthy" "${body}")
check "GET /-/healthy -> 200 (${code})" test "${code}" = 200
code=$(http_get "${base}/-/ready" "${body}")
check "GET /-/ready -> 200 (${code})" test "${code}" = 200
code=$(http_get "${base}/no/such/page" "${body}")
check "GET /no/such/page -> 404 (${code})" test "${code}" = 404
code=$(http_get "${base}/metrics" "${body}" -X POST -D "${tmp}/405.headers")
check "POST /metrics -> 405 (${code})" test "${code}" = 405
check "... with Allow: GET" grep -qi '^Allow:.*GET' "${tmp}/405.headers"
code=$(http_get "${base}/-/reload" "${body}" -D "${tmp}/405.headers")
check "GET /-/reload -> 405 (${code})" test "${code}" = 405
check "... with Allow: POST" grep -qi '^Allow:.*POST' "${tmp}/405.headers"
code=$(http_get "${base}/metrics" "${body}" -I)
check "HEAD /metrics -> 200 (${code})" test "${code}" = 200

# ---------------------------------------------------------------------------------------------
note "malformed requests"
# raw BYTES (printf format): sends them on a fresh connection, prints the status line.
raw() {
  # shellcheck disable=SC2016 # $1 and $2 belong to the inner shell
  timeout 15 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "$2" >&3 2>/dev/null
    head -n 1 <&3 | tr -d "\r"' _ "${port}" "$1" 2>/dev/null || true
}
expect_status() {
  local desc=$1 want=$2 got=$3
  if [[ "${got}" =~ ^HTTP/1\.[01]\ (${want}) ]]; then pass "${desc} -> ${got}"; else fail "${desc}: want ${want}, got '${got}'"; fi
}
expect_status "garbage request line" 400 "$(raw 'GARBAGE\r\n\r\n')"
expect_status "request line without version" 400 "$(raw 'GET /metrics\r\n\r\n')"
expect_status "HTTP/1.1 without Host" 400 "$(raw 'GET /metrics HTTP/1.1\r\n\r\n')"
expect_status "bad header line" 400 "$(raw 'GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n')"
big=$(head -c 70000 /dev/zero | tr '\0' 'a')
expect_status "70 kB header" '431|400' "$(raw "GET / HTTP/1.1\\r\\nHost: x\\r\\nX-Big: ${big}\\r\\n\\r\\n")"
# A TLS ClientHello start and binary noise on the plain-HTTP port: answered or closed, no crash.
raw '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00\xff\xfe\r\n\r\n' >/dev/null
raw '\x00\x01\x02\x03\xff\xfe\r\n\r\n' >/dev/null
check "daemon still running after malformed requests" e2e_alive "${dpid}"
code=$(http_get "${base}/-/healthy" "${body}")
check "... and answers /-/healthy 200 (${code})" test "${code}" = 200

# ---------------------------------------------------------------------------------------------
note "reload"
last_success_ts() { series_value "${metrics}" smtp_exporter_config_last_reload_success_timestamp_seconds; }
scrape
ts_before=$(last_success_ts)
sleep 1.1 # the success timestamp has sub-second resolution; make a change visible anyway
write_config "${cfg}" 0
code=$(http_get "${base}/-/reload" "${body}" -X POST)
check "POST /-/reload with a good config (open relay removed) -> 200 (${code})" test "${code}" = 200
open_gone() { scrape && ! grep -qF "target=\"${open}\"" "${metrics}"; }
if wait_until 15 "open relay series to disappear" open_gone; then
  pass "the target removed by the reload disappeared from /metrics"
else
  fail "series of the removed target ${open} are still in /metrics"
fi
check "... the closed Postfix is still there" series_value "${metrics}" smtp_probe_success "target=\"${closed}\""
check "smtp_exporter_config_last_reload_successful 1 after the good reload" \
  series_is "${metrics}" smtp_exporter_config_last_reload_successful 1
ts_good=$(last_success_ts)
check "last_reload_success_timestamp advanced (${ts_before} -> ${ts_good})" \
  awk -v a="${ts_before}" -v b="${ts_good}" 'BEGIN { exit !(b > a) }'

# A bad file: 500, the error, the metric at 0, the old config keeps running.
cat >"${cfg}" <<EOF
modules:
  default: {timeout: 5s, relay_tset: {}}
targets:
  - address: ${open}
EOF
code=$(http_get "${base}/-/reload" "${body}" -X POST)
check "POST /-/reload with a bad config -> 500 (${code})" test "${code}" = 500
check "... the answer names the bad key and line" grep -q 'relay_tset.*line 2' "${body}"
scrape
check "smtp_exporter_config_last_reload_successful 0 after the bad reload" \
  series_is "${metrics}" smtp_exporter_config_last_reload_successful 0
check "... the success timestamp did not move" test "$(last_success_ts)" = "${ts_good}"
run_before=$(series_value "${metrics}" smtp_probe_last_run_timestamp_seconds "target=\"${closed}\"")
probed_again() {
  scrape || return 1
  local now
  now=$(series_value "${metrics}" smtp_probe_last_run_timestamp_seconds "target=\"${closed}\"") || return 1
  awk -v a="${run_before}" -v b="${now}" 'BEGIN { exit !(b > a) }'
}
if wait_until 30 "closed Postfix probed again" probed_again; then
  pass "the old config keeps running: ${closed} probed again after the bad reload"
else
  fail "${closed} was not probed again within 30 s after the bad reload"
fi
check "... and the bad file's target was not added" bash -c "! grep -qF 'target=\"${open}\"' '${metrics}'"
code=$(http_get "${base}/" "${body}")
check "status page still served after the bad reload (${code})" test "${code}" = 200

# SIGHUP: good file with both targets again.
write_config "${cfg}" 1
kill -HUP "${dpid}"
open_back() {
  scrape && series_is "${metrics}" smtp_exporter_config_last_reload_successful 1 &&
    series_value "${metrics}" smtp_probe_success "target=\"${open}\""
}
t_start=${SECONDS}
if wait_until 60 "SIGHUP reload to bring the open relay back" open_back; then
  pass "SIGHUP reloaded: reload_successful 1 and ${open} probed again ($((SECONDS - t_start)) s)"
else
  fail "SIGHUP did not reload the good config within 60 s"
fi
# SIGHUP with a bad file.
printf 'targets: [\n' >"${cfg}"
kill -HUP "${dpid}"
reload_failed() { scrape && series_is "${metrics}" smtp_exporter_config_last_reload_successful 0; }
check "SIGHUP with a bad file: reload_successful 0" wait_until 15 "reload_successful 0" reload_failed
check "... daemon still running" e2e_alive "${dpid}"
check "... both targets still in /metrics" bash -c "grep -qF 'target=\"${open}\"' '${metrics}' && grep -qF 'target=\"${closed}\"' '${metrics}'"
write_config "${cfg}" 1
code=$(http_get "${base}/-/reload" "${body}" -X POST)
check "POST /-/reload after fixing the file -> 200 (${code})" test "${code}" = 200

# ---------------------------------------------------------------------------------------------
note "SIGTERM"
t_ms=$(date +%s%3N)
kill -TERM "${dpid}"
for _ in $(seq 1 200); do
  e2e_alive "${dpid}" || break
  sleep 0.05
done
t_ms=$(($(date +%s%3N) - t_ms))
if e2e_alive "${dpid}"; then
  fail "daemon still running 10 s after SIGTERM"
else
  set +e
  wait "${dpid}"
  rc=$?
  set -e
  check "SIGTERM: daemon exited with status 0 in ${t_ms} ms (bound 10 s)" test "${rc}" -eq 0
fi
check "... port ${port} no longer listens" bash -c "! ss -Hltn 'sport = :${port}' | grep -q ."
check "... logged start, reload and stop" \
  bash -c "grep -q 'msg=started' '${E2E_TOP}/daemon.log' && grep -q 'reload failed' '${E2E_TOP}/daemon.log' &&
           grep -q 'shutting down' '${E2E_TOP}/daemon.log'"

# ---------------------------------------------------------------------------------------------
note "--web.config.file: TLS and basic auth"
web=${E2E_TOP}/web
mkdir -p "${web}"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -sha256 -keyout "${web}/ca.key" \
  -out "${web}/ca.pem" -subj "/CN=smtp_exporter e2e web CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -sha256 -keyout "${web}/server.key" \
  -out "${web}/server.csr" -subj "/CN=127.0.0.1" 2>/dev/null
printf 'subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n' >"${web}/server.ext"
openssl x509 -req -in "${web}/server.csr" -CA "${web}/ca.pem" -CAkey "${web}/ca.key" \
  -CAcreateserial -days 2 -sha256 -extfile "${web}/server.ext" -out "${web}/server.pem" 2>/dev/null
# bcrypt hashes made now: alice with htpasswd ($2y$) when apache2-utils is there, bob with
# libcrypt through perl's crypt() ($2b$), which needs nothing beyond perl-base.
alice_pw=alice-$RANDOM$RANDOM
bob_pw=bob-$RANDOM$RANDOM
bob_hash=$(perl -e '
  my @c = (".", "/", "A".."Z", "a".."z", "0".."9");
  open(my $r, "<", "/dev/urandom") or die; read($r, my $b, 22);
  my $salt = join "", map { $c[ord($_) % 64] } split //, $b;
  print crypt($ARGV[0], "\$2b\$05\$" . $salt);' "${bob_pw}")
[[ "${bob_hash}" == "\$2b\$05\$"* && ${#bob_hash} -eq 60 ]] || die "libcrypt made no bcrypt hash: ${bob_hash}"
users="  bob: '${bob_hash}'"
if command -v htpasswd >/dev/null 2>&1; then
  alice_hash=$(htpasswd -nbB -C 5 alice "${alice_pw}" | cut -d: -f2-)
  users+=$'\n'"  alice: '${alice_hash}'"
else
  note "htpasswd (apache2-utils) not installed: only the libcrypt-made \$2b\$ hash is tested"
  alice_hash=""
fi
cat >"${web}/web.yml" <<EOF
tls_server_config:
  cert_file: server.pem
  key_file: server.key
basic_auth_users:
${users}
EOF
set +e
out=$("${bin}" --config.file "${cfg}" --web.config.file "${web}/web.yml" --config.check 2>&1)
rc=$?
set -e
check "--config.check with a good --web.config.file exits 0 (${out})" test "${rc}" -eq 0
printf 'basic_auth_users:\n  carol: not-a-hash\n' >"${web}/bad_web.yml"
set +e
out=$("${bin}" --config.file "${cfg}" --web.config.file "${web}/bad_web.yml" --config.check 2>&1)
rc=$?
set -e
if [[ ${rc} -ne 0 && $(printf '%s\n' "${out}" | grep -c .) -eq 1 && "${out}" == *carol* ]]; then
  pass "--config.check with a plain-text password fails with one line: ${out}"
else
  fail "--config.check with a plain-text password: exit ${rc}: ${out}"
fi

tport=$(e2e_free_port "${CLOSED_PORT}" "${OPEN_PORT}" "${port}")
tbase=https://127.0.0.1:${tport}
e2e_bg daemon-tls "${bin}" --config.file "${cfg}" --web.config.file "${web}/web.yml" \
  --web.listen-address "127.0.0.1:${tport}"
tpid=${E2E_LAST_PID}
tls_up() { [[ "$(http_get "${tbase}/-/healthy" /dev/null --cacert "${web}/ca.pem")" == 401 ]]; }
if ! wait_until 30 "TLS daemon to answer" tls_up; then
  e2e_dump_log daemon-tls
  die "the TLS daemon did not answer on 127.0.0.1:${tport} within 30 s"
fi
code=$(http_get "${tbase}/metrics" "${body}" --cacert "${web}/ca.pem" -D "${tmp}/401.headers")
check "https /metrics without credentials -> 401 (${code})" test "${code}" = 401
check "... with a WWW-Authenticate: Basic challenge" grep -qi '^WWW-Authenticate: Basic' "${tmp}/401.headers"
code=$(http_get "${tbase}/metrics" "${body}" --cacert "${web}/ca.pem" -u "bob:wrong-${bob_pw}")
check "https /metrics with a wrong password -> 401 (${code})" test "${code}" = 401
code=$(http_get "${tbase}/metrics" "${body}" --cacert "${web}/ca.pem" -u "mallory:${bob_pw}")
check "https /metrics with an unknown user -> 401 (${code})" test "${code}" = 401
code=$(http_get "${tbase}/no/such/page" "${body}" --cacert "${web}/ca.pem")
check "https unknown path without credentials -> 401, not 404 (${code})" test "${code}" = 401
code=$(http_get "${tbase}/metrics" "${body}" --cacert "${web}/ca.pem" -u "bob:${bob_pw}")
check "https /metrics as bob (\$2b\$ hash) -> 200 (${code})" test "${code}" = 200
check "... with metrics" grep -q '^smtp_exporter_build_info' "${body}"
if [[ -n "${alice_hash}" ]]; then
  code=$(http_get "${tbase}/metrics" "${body}" --cacert "${web}/ca.pem" -u "alice:${alice_pw}")
  check "https /metrics as alice (htpasswd \$2y\$ hash) -> 200 (${code})" test "${code}" = 200
  code=$(http_get "${tbase}/metrics" "${body}" --cacert "${web}/ca.pem" -u "alice:${bob_pw}")
  check "https /metrics as alice with bob's password -> 401 (${code})" test "${code}" = 401
fi
code=$(http_get "${tbase}/-/reload" "${body}" --cacert "${web}/ca.pem" -u "bob:${bob_pw}" -X POST)
check "https POST /-/reload with credentials -> 200 (${code})" test "${code}" = 200
set +e
curl -s --max-time 10 -o /dev/null "${tbase}/-/healthy"
rc=$?
set -e
check "https without the test CA fails certificate verification (curl exit ${rc})" test "${rc}" -eq 60
code=$(http_get "http://127.0.0.1:${tport}/-/healthy" "${body}")
check "plain http to the TLS port gets no 200 (${code})" test "${code}" != 200
subject=$(openssl s_client -connect "127.0.0.1:${tport}" -CAfile "${web}/ca.pem" </dev/null 2>/dev/null |
  grep -m1 'Verify return code' || true)
check "openssl s_client verifies the served certificate (${subject})" \
  bash -c "[[ '${subject}' == *'0 (ok)'* ]]"
check "TLS daemon still running" e2e_alive "${tpid}"
check "TLS daemon stops on SIGTERM within 10 s" e2e_stop "${tpid}" 10

# Nothing was queued by the probes (they never send DATA).
queued=$(pf_queue_files "${E2E_TOP}/pf-closed"; pf_queue_files "${E2E_TOP}/pf-open")
check "no mail in either Postfix queue" test -z "${queued}"

if ((E2E_FAILURES > 0)); then
  e2e_dump_log daemon 40
  e2e_dump_log daemon-tls 20
fi
e2e_summary
