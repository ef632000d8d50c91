#!/usr/bin/env bash
# jq filters are single-quoted on purpose ($vars in them are jq variables):
# shellcheck disable=SC2016
# Real-MTA test of the AUTH step (RFC 4954): `smtp_exporter probe --auth-*` and the daemon with
# an `auth` module against three real submission servers on 127.0.0.1, started here:
#
#   postfix   Postfix 3.7 with Cyrus SASL (auxprop sasldb, a database made here with saslpasswd2):
#             587-style STARTTLS listener with smtpd_tls_auth_only (AUTH only after TLS), an
#             implicit-TLS listener (465 style), and a listener that offers AUTH before TLS.
#   haraka    Haraka (npm) with auth/flat_file: PLAIN, LOGIN, CRAM-MD5; STARTTLS and implicit TLS.
#   aiosmtpd  aiosmtpd (Debian) with an authenticator: PLAIN and LOGIN, after STARTTLS only.
#
# For every server and every mechanism it offers that the prober supports: the right password is
# a success (235), a wrong one is 535 (bad_credentials). Postfix's SASL database taken away is a
# distinct failure; AUTH offered before TLS is a finding; no credentials cross plaintext unless
# allowed. The password (and the base64 forms the mechanisms send) is never in any output: the
# CLI's text and JSON, and the daemon's /metrics, /, /transcript, /probe?debug=true and its
# debug-level log. Prints the measured table servers x mechanisms x outcome.
#
#   auth_test.sh /path/to/smtp_exporter
# Exit: 0 passed, 1 failed, 77 skipped (not root, or a server missing).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=mta_lib.sh
source "${here}/mta_lib.sh"
mta_begin auth "$@"
# shellcheck source-path=SCRIPTDIR source=../integration/postfix_instance.sh
source "${here}/../integration/postfix_instance.sh"
mta_on_exit pf_stop_all

command -v saslpasswd2 >/dev/null 2>&1 || mta_skip "saslpasswd2 is missing (apt-get install sasl2-bin)"
command -v postfix >/dev/null 2>&1 || mta_skip "postfix is not installed"
kit=${here}/haraka
haraka_pkg=${kit}/node_modules/Haraka
if [[ ! -f "${haraka_pkg}/bin/haraka" ]] || ! command -v node >/dev/null 2>&1; then
  mta_skip "Haraka is not installed in ${kit}/node_modules (scripts/install-deps runs npm ci there)"
fi
# shellcheck source-path=SCRIPTDIR source=haraka_instance.sh
source "${here}/haraka_instance.sh"
python=/usr/bin/python3
"${python}" -c 'import aiosmtpd' 2>/dev/null || mta_skip "python3-aiosmtpd is not installed"

mta_make_ca "${top}/ca"
user=probe
password="Pw-$(openssl rand -hex 10)"
printf '%s\n' "${password}" >"${top}/password"
printf '%s\n' "not-${password}" >"${top}/wrong_password"
chmod 644 "${top}/password" "${top}/wrong_password"
# What must never be printed: the password, and what PLAIN and LOGIN send (RFC 4616, base64).
secrets=("${password}"
  "$(printf '\0%s\0%s' "${user}" "${password}" | base64 -w0)"
  "$(printf '%s' "${password}" | base64 -w0)")

# The measured table: one row per probe, "server mechanism expected outcome code enhanced".
table=()
# auth_run NAME SERVER EXPECTED_OUTCOME TARGET ARGS...: one CLI probe with the right password
# (the wrong one when NAME ends in _wrong), JSON output; checks the outcome and records it.
auth_run() {
  local name=$1 server=$2 want=$3 target=$4 rc=1 f mech outcome code pw=${top}/password
  shift 4
  [[ ${want} == success ]] && rc=0
  [[ ${name} == *_wrong ]] && pw=${top}/wrong_password
  probe "${name}" "${rc}" "${target}" --no-reverse-dns "${mta_tls[@]}" --auth-user "${user}" \
    --auth-password-file "${pw}" --output json "$@"
  f=${top}/${name}.out
  outcome=$(jq -r '.auth.outcome // "none"' "${f}" 2>/dev/null || echo "?")
  mech=$(jq -r '.auth.mechanism // "-"' "${f}" 2>/dev/null || echo "?")
  code=$(jq -r '[.steps[] | select(.step == "auth")][0] | "\(.reply_code) \(.enhanced_code)"' \
    "${f}" 2>/dev/null || echo "?")
  table+=("$(printf '%-9s %-14s %-20s %s' "${server}" "${mech}" "${outcome}" "${code}")")
  if [[ "${outcome}" == "${want}" ]]; then
    pass "${name}: ${server} ${mech}: ${outcome} (${code})"
  else
    fail "${name}: ${server} ${mech}: ${outcome} (${code}), want ${want}"
  fi
}
offered_after_tls() { jq -r '(.tls_capabilities // .capabilities).auth_mechanisms[]' "${top}/$1.out"; }
supported=" SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN "

# ---------------------------------------------------------------------------------------------
section "Postfix with Cyrus SASL (sasldb)"
read -r pf_port pf_smtps pf_plain <<<"$(mta_free_ports 3)"
pf=${top}/postfix
pf_create "${pf}" closed "${pf_port}" "${top}/ca" "${pf_smtps}"
# Debian's Postfix makes Cyrus read ${config_directory}/sasl/smtpd.conf (measured with strace;
# cyrus_sasl_config_path alone is not enough), so the SASL files live there.
pf_sasl=${pf}/etc/sasl
mkdir -p "${pf_sasl}"
chmod 755 "${pf_sasl}"
printf '%s' "${password}" | saslpasswd2 -f "${pf_sasl}/sasldb2" -p -c -u mx.test "${user}"
chown root:postfix "${pf_sasl}/sasldb2"
chmod 640 "${pf_sasl}/sasldb2"
cat >"${pf_sasl}/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: ${pf_sasl}/sasldb2
mech_list: PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256
EOF
postconf -c "${pf}/etc" -e smtpd_sasl_auth_enable=yes smtpd_sasl_type=cyrus \
  smtpd_sasl_path=smtpd "cyrus_sasl_config_path=${pf_sasl}" smtpd_tls_auth_only=yes \
  smtpd_sasl_local_domain=mx.test smtpd_sasl_security_options=noanonymous
# A third listener that offers AUTH before TLS (smtpd_tls_auth_only off), as misconfigured
# submission servers do.
cat >>"${pf}/etc/master.cf" <<EOF
127.0.0.1:${pf_plain} inet n      -       n       -       -       smtpd
  -o syslog_name=postfix-test-closed/plain-auth
  -o smtpd_tls_auth_only=no
EOF
postfix -c "${pf}/etc" check
pf_start "${pf}"
echo "Postfix $(postconf -d -h mail_version): STARTTLS 127.0.0.1:${pf_port}, implicit TLS :${pf_smtps}, AUTH before TLS :${pf_plain}"

probe pf_capabilities 0 "127.0.0.1:${pf_port}" --no-reverse-dns "${mta_tls[@]}" --output json
jcheck "${top}/pf_capabilities.out" "Postfix offers no AUTH before TLS (smtpd_tls_auth_only)" \
  '(.capabilities.auth_mechanisms | length) == 0'
mapfile -t pf_mechs < <(offered_after_tls pf_capabilities)
echo "Postfix offers after TLS: ${pf_mechs[*]}"
for m in "${pf_mechs[@]}"; do
  [[ "${supported}" == *" ${m} "* ]] || continue
  auth_run "pf_587_${m}" postfix success "127.0.0.1:${pf_port}" --auth-mechanisms "${m}"
  auth_run "pf_587_${m}_wrong" postfix bad_credentials "127.0.0.1:${pf_port}" \
    --auth-mechanisms "${m}"
  jcheck "${top}/pf_587_${m}_wrong.out" "pf ${m} wrong password: 535 5.7.8, the probe fails at auth" \
    '.success == false and .failed_step == "auth" and .failure_reason == "rejected"
     and ([.steps[] | select(.step == "auth")][0] | .reply_code == 535 and .enhanced_code == "5.7.8")'
done
for m in PLAIN SCRAM-SHA-256; do
  auth_run "pf_465_${m}" postfix/465 success "127.0.0.1:${pf_smtps}" --implicit-tls \
    --auth-mechanisms "${m}"
done
jcheck "${top}/pf_587_SCRAM-SHA-256.out" "SCRAM: Postfix's server signature verified" \
  '.auth.server_verified == true'
jcheck "${top}/pf_587_PLAIN.out" "the transcript shows AUTH PLAIN <redacted>, then 235" \
  'any(.transcript[]; .text == "AUTH PLAIN <redacted>") and any(.transcript[]; .text | test("^235 2.7.0"))'
jcheck "${top}/pf_587_PLAIN.out" "after AUTH: QUIT, no MAIL" \
  'all(.transcript[]; .text | test("^MAIL"; "i") | not) and any(.transcript[]; .text == "QUIT")'

section "Postfix: AUTH offered before TLS"
auth_run pf_plain_auth postfix/plain success "127.0.0.1:${pf_plain}" --auth-mechanisms PLAIN
jcheck "${top}/pf_plain_auth.out" "finding: AUTH offered before TLS" \
  'any(.findings[]; startswith("AUTH offered before TLS"))'
auth_run pf_plain_refused postfix/plain plaintext_refused "127.0.0.1:${pf_plain}" --starttls off
jcheck "${top}/pf_plain_refused.out" "without TLS no AUTH is sent (reason tls); finding PLAIN/LOGIN without TLS" \
  '.failure_reason == "tls" and all(.transcript[]; .text | startswith("AUTH") | not)
   and any(.findings[]; startswith("PLAIN/LOGIN offered without TLS"))
   and any(.findings[]; startswith("AUTH offered before TLS"))'
auth_run pf_plain_allowed postfix/plain success "127.0.0.1:${pf_plain}" --starttls off \
  --auth-allow-plaintext --auth-mechanisms PLAIN
jcheck "${top}/pf_plain_allowed.out" "--auth-allow-plaintext: authenticated in plaintext" \
  '.auth.over_tls == false'

section "Postfix: SASL backend unavailable (its database cannot be opened), then back"
# Cyrus answers SASL_FAIL when its store cannot be opened (as when saslauthd or a database is
# down), which Postfix turns into 454 4.7.0. (A database that is merely gone reads as "no such
# user": 535, measured.)
chmod 000 "${pf_sasl}/sasldb2"
auth_run pf_backend_down postfix temporary_failure "127.0.0.1:${pf_port}" --auth-mechanisms PLAIN
jcheck "${top}/pf_backend_down.out" "backend down: 454 4.7.0, distinct from bad credentials" \
  '([.steps[] | select(.step == "auth")][0] | .reply_code == 454 and .enhanced_code == "4.7.0")'
chmod 640 "${pf_sasl}/sasldb2"
auth_run pf_backend_back postfix success "127.0.0.1:${pf_port}" --auth-mechanisms PLAIN

# ---------------------------------------------------------------------------------------------
section "Haraka with auth/flat_file"
read -r hk_port hk_smtps <<<"$(mta_free_ports 2)"
hk_create hk_auth auth "${hk_port}" "${hk_smtps}"
printf '[core]\nmethods=PLAIN,LOGIN,CRAM-MD5\n\n[users]\n%s=%s\n' "${user}" "${password}" \
  >"${top}/hk_auth/config/auth_flat_file.ini"
hk_start hk_auth
probe hk_capabilities 0 "127.0.0.1:${hk_port}" --no-reverse-dns "${mta_tls[@]}" --output json
mapfile -t hk_mechs < <(offered_after_tls hk_capabilities)
echo "Haraka offers after TLS: ${hk_mechs[*]}"
check "Haraka offers PLAIN, LOGIN and CRAM-MD5 after TLS" test "${#hk_mechs[@]}" -eq 3
for m in "${hk_mechs[@]}"; do
  auth_run "hk_${m}" haraka success "127.0.0.1:${hk_port}" --auth-mechanisms "${m}"
  auth_run "hk_${m}_wrong" haraka bad_credentials "127.0.0.1:${hk_port}" --auth-mechanisms "${m}"
done
auth_run hk_465_CRAM-MD5 haraka/465 success "127.0.0.1:${hk_smtps}" --implicit-tls \
  --auth-mechanisms CRAM-MD5

# ---------------------------------------------------------------------------------------------
section "aiosmtpd with an authenticator"
ai_port=$(mta_free_port)
"${python}" "${here}/aiosmtpd_server.py" --mode closed --port "${ai_port}" --log "${top}/ai.log" \
  --cert "${top}/ca/mx.test.pem" --key "${top}/ca/mx.test.key" --auth-user "${user}" \
  --auth-password-file "${top}/password" >"${top}/ai.stderr" 2>&1 &
echo $! >"${top}/ai.pid"
mta_on_exit 'mta_stop_pid "$(<"${top}/ai.pid")"'
mta_wait_port "${ai_port}" 20 || {
  fail "aiosmtpd did not start"
  cat "${top}/ai.stderr"
  exit 1
}
probe ai_capabilities 0 "127.0.0.1:${ai_port}" --no-reverse-dns "${mta_tls[@]}" --output json
mapfile -t ai_mechs < <(offered_after_tls ai_capabilities)
echo "aiosmtpd offers after TLS: ${ai_mechs[*]}"
for m in "${ai_mechs[@]}"; do
  [[ "${supported}" == *" ${m} "* ]] || continue
  auth_run "ai_${m}" aiosmtpd success "127.0.0.1:${ai_port}" --auth-mechanisms "${m}"
  auth_run "ai_${m}_wrong" aiosmtpd bad_credentials "127.0.0.1:${ai_port}" \
    --auth-mechanisms "${m}"
done
check "aiosmtpd's authenticator saw the successes" grep -q 'auth PLAIN success' "${top}/ai.log"

# ---------------------------------------------------------------------------------------------
section "the daemon: an auth module, every page and the debug log"
web_port=$(mta_free_port)
cat >"${top}/daemon.yml" <<EOF
modules:
  submission:
    timeout: 5s
    tls: {ca_file: ${top}/ca/ca.pem, server_name: mx.test}
    auth: {username: ${user}, password_file: ${top}/password, mechanisms: [PLAIN]}
targets:
  - address: 127.0.0.1:${pf_port}
    module: submission
    interval: 5s
probe_allowlist: [127.0.0.0/8]
EOF
"${bin}" --config.file "${top}/daemon.yml" --web.listen-address "127.0.0.1:${web_port}" \
  --log.level debug >"${top}/daemon.log" 2>&1 &
echo $! >"${top}/daemon.pid"
mta_on_exit 'mta_stop_pid "$(<"${top}/daemon.pid")"'
mta_wait_port "${web_port}" 20 || fail "the daemon did not listen"
web=http://127.0.0.1:${web_port}
for ((i = 0; i < 150; i++)); do
  curl -fsS "${web}/metrics" >"${top}/metrics.txt" 2>/dev/null || true
  grep -q '^smtp_auth_success' "${top}/metrics.txt" && break
  sleep 0.2
done
check "/metrics: smtp_auth_success 1 and the mechanism used" grep -qE \
  '^smtp_auth_success\{[^}]*target="127\.0\.0\.1:'"${pf_port}"'"[^}]*\} 1$' "${top}/metrics.txt"
check "/metrics: smtp_auth_mechanism_used_info{mechanism=\"PLAIN\"}" grep -q \
  'smtp_auth_mechanism_used_info{.*mechanism="PLAIN"' "${top}/metrics.txt"
check "/metrics: step auth in smtp_reply_code (235)" grep -qE \
  '^smtp_reply_code\{[^}]*step="auth"[^}]*\} 235$' "${top}/metrics.txt"
curl -fsS "${web}/" >"${top}/status.html" || fail "GET /"
curl -fsS "${web}/transcript?target=127.0.0.1:${pf_port}&module=submission" \
  >"${top}/transcript.txt" || fail "GET /transcript"
curl -fsS "${web}/probe?target=127.0.0.1:${pf_port}&module=submission&debug=true" \
  >"${top}/probe_debug.txt" || fail "GET /probe?debug=true"
check "/transcript shows AUTH PLAIN <redacted>" grep -q 'AUTH PLAIN &lt;redacted&gt;\|AUTH PLAIN <redacted>' "${top}/transcript.txt"
check "/probe?debug=true shows AUTH PLAIN <redacted>" grep -q 'AUTH PLAIN <redacted>' "${top}/probe_debug.txt"
sleep 5.5  # one more scheduled probe in the debug log
mta_stop_pid "$(<"${top}/daemon.pid")"
check "the debug log has the scheduled probes (level debug)" grep -q 'level=debug msg="probe finished"' \
  "${top}/daemon.log"

section "the password appears nowhere"
outputs=("${top}"/*.out "${top}"/*.err "${top}/metrics.txt" "${top}/status.html"
  "${top}/transcript.txt" "${top}/probe_debug.txt" "${top}/daemon.log")
for secret in "${secrets[@]}"; do
  check "no output holds the password or its base64 form (${#secret} chars)" \
    bash -c '! grep -F -l -- "$1" "${@:2}"' _ "${secret}" "${outputs[@]}"
done

section "measured: servers x mechanisms x outcome"
printf '%-9s %-14s %-20s %s\n' server mechanism outcome "code enhanced"
printf '%s\n' "${table[@]}"
pf_queue_files "${pf}" >"${top}/queue.txt"
check "Postfix queued nothing" test ! -s "${top}/queue.txt"
