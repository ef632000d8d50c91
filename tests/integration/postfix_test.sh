#!/usr/bin/env bash
# jq filters are single-quoted on purpose ($vars in them are jq variables):
# shellcheck disable=SC2016
# Integration test: `smtp_exporter probe` against real Postfix instances on 127.0.0.1.
#
#   postfix_test.sh /path/to/smtp_exporter
#
# Starts two throwaway Postfix instances (see postfix_instance.sh): a closed relay with STARTTLS on
# a certificate for mx.test signed by a test CA, and an open relay. Probes them with --output json
# and --output text and checks the verdicts with jq, then checks Postfix's own log: every session
# ended with QUIT, no DATA/BDAT was ever sent, no pipelining violations, nothing was queued.
#
# Exit: 0 all assertions passed, 1 an assertion failed (each failure is printed as "FAIL - ..."),
# 77 skipped (postfix not installed, or not root: Postfix's master must start as root).
# Only loopback traffic; nothing is ever delivered (all transports discard, DATA is refused).
set -euo pipefail

PATH=${PATH}:/usr/sbin:/sbin
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ $# -ne 1 ]]; then
  echo "usage: $0 /path/to/smtp_exporter" >&2
  exit 2
fi
bin=$1

if ! command -v postfix >/dev/null 2>&1; then
  echo "SKIP: postfix is not installed (apt-get install postfix)"
  exit 77
fi
if [[ ${EUID} -ne 0 ]]; then
  echo "SKIP: must run as root to start a Postfix master"
  exit 77
fi
for tool in jq openssl ss timeout postqueue postconf; do
  if ! command -v "${tool}" >/dev/null 2>&1; then
    echo "FAIL - required tool '${tool}' is not installed" >&2
    exit 1
  fi
done
if [[ ! -x "${bin}" ]]; then
  echo "FAIL - ${bin} is not an executable" >&2
  exit 1
fi

# shellcheck source-path=SCRIPTDIR source=postfix_instance.sh
source "${here}/postfix_instance.sh"

top=$(mktemp -d /tmp/smtp-exporter-integ.XXXXXX)
keep=${SMTP_EXPORTER_KEEP_TMP:-0}
cleanup() {
  local rc=$?
  pf_stop_all
  if [[ "${keep}" == 1 || ${rc} -ne 0 ]]; then
    echo "(temp dir kept for inspection: ${top})"
  else
    rm -rf "${top}"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

disconnects() { grep -E 'smtpd\[[0-9]+\]: disconnect from ' "$1" || true; }
# These print the offending log lines, if any, so a failure says which session it was.
all_disconnects_quit() {
  local bad
  bad=$(disconnects "$1" | grep -v ' quit=1 ' || true)
  [[ -z "${bad}" ]] || { printf '       without QUIT: %s\n' "${bad}"; return 1; }
}
no_disconnect_with_data() {
  local bad
  bad=$(disconnects "$1" | grep -E ' (data|bdat)=' || true)
  [[ -z "${bad}" ]] || { printf '       DATA/BDAT sent: %s\n' "${bad}"; return 1; }
}
queue_reported_empty() { postqueue -c "$1" -p 2>&1 | grep -q 'Mail queue is empty'; }
# ---------------------------------------------------------------------------------------------
section "setting up Postfix instances"
postfix_version=$(postconf -h -d mail_version 2>/dev/null)
echo "Postfix ${postfix_version}; binary under test: ${bin}; temp dir ${top}"
pf_make_ca "${top}/ca"
ca=${top}/ca/ca.pem
closed_port=$(pf_free_port)
smtps_port=$(pf_free_port)
while [[ "${smtps_port}" == "${closed_port}" ]]; do smtps_port=$(pf_free_port); done
pf_create "${top}/closed" closed "${closed_port}" "${top}/ca" "${smtps_port}"
pf_start "${top}/closed"
open_port=$(pf_free_port)
while [[ "${open_port}" == "${closed_port}" || "${open_port}" == "${smtps_port}" ]]; do
  open_port=$(pf_free_port)
done
pf_create "${top}/open" open "${open_port}" "${top}/ca"
pf_start "${top}/open"
closed=127.0.0.1:${closed_port}
open=127.0.0.1:${open_port}
closed_sessions=0
open_sessions=0
# --no-reverse-dns: the target is an address literal, so with it the prober needs no DNS at all;
# without it, it would send a PTR query for 127.0.0.1 to the system resolver (off-box traffic).
common=(--timeout 20s --no-reverse-dns)

# ---------------------------------------------------------------------------------------------
section "closed relay, JSON (${closed})"
probe closed_json 0 "${closed}" "${common[@]}" --relay-test --ca-file "${ca}" \
  --server-name mx.test --output json
closed_sessions=$((closed_sessions + 1))
f=${top}/closed_json.out
if is_json closed_json; then
  jcheck "${f}" "target names the port" '.target | tostring | contains($p)' --arg p "${closed_port}"
  jcheck "${f}" "success is true" '.success == true'
  jcheck "${f}" "failed_step is null" '.failed_step == null'
  jcheck "${f}" "duration_seconds is a number below the timeout" \
    '(.duration_seconds | type) == "number" and .duration_seconds > 0 and .duration_seconds < 20'
  jcheck "${f}" "greeting.hostname is mx.test" '.greeting.hostname == "mx.test"'
  jcheck "${f}" "greeting.software is Postfix" '.greeting.software == "Postfix"'
  jcheck "${f}" "greeting.version is empty (banner does not disclose it)" \
    '(.greeting.version // "") == ""'
  jcheck "${f}" "esmtp is true" '.esmtp == true'
  jcheck "${f}" "capabilities.domain is mx.test" '.capabilities.domain == "mx.test"'
  jcheck "${f}" "capabilities list STARTTLS, PIPELINING, SIZE, CHUNKING" \
    '[.capabilities.extensions[].keyword | ascii_upcase] as $k
     | all("STARTTLS", "PIPELINING", "SIZE", "CHUNKING"; . as $w | $k | index([$w]) != null)'
  jcheck "${f}" "capabilities.size_limit is Postfix's message_size_limit (10240000)" \
    '.capabilities.size_limit == 10240000'
  jcheck "${f}" "tls_capabilities present and without STARTTLS (RFC 3207)" \
    '.tls_capabilities != null
     and ([.tls_capabilities.extensions[].keyword | ascii_upcase] | index(["STARTTLS"]) == null)
     and ([.tls_capabilities.extensions[].keyword | ascii_upcase] | index(["PIPELINING"]) != null)'
  jcheck "${f}" "starttls offered and success" '.starttls.offered == true and .starttls.success == true'
  jcheck "${f}" "tls is reported" '.tls != null'
  jcheck "${f}" "tls.version is TLSv1.2 or TLSv1.3" '.tls.version | test("^TLSv1\\.[23]$")'
  jcheck "${f}" "tls.cipher is set" '(.tls.cipher | type) == "string" and (.tls.cipher | length) > 0'
  jcheck "${f}" "tls chain_verified, hostname_verified, verified are true with the test CA" \
    '.tls.chain_verified == true and .tls.hostname_verified == true and .tls.verified == true'
  jcheck "${f}" "tls.chain[0] is the mx.test leaf issued by the test CA" \
    '(.tls.chain[0].subject | test("mx\\.test")) and (.tls.chain[0].issuer | test("smtp_exporter test CA"))'
  jcheck "${f}" "tls.earliest_not_after is set" '.tls.earliest_not_after != null'
  jcheck "${f}" "relay test ran and found the server closed" '.relay.ran == true and .relay.open == false'
  jcheck "${f}" "relay test made at least one attempt" '(.relay.attempts | length) >= 1'
  jcheck "${f}" "every relay attempt refused with a 5xx (RCPT, or MAIL when MAIL already failed)" \
    'all(.relay.attempts[];
         ((.rcpt_code // 0) >= 500 and (.rcpt_code // 0) < 600)
         or (.rcpt_code == null and (.mail_code // 0) >= 500 and (.mail_code // 0) < 600))'
  jcheck "${f}" "no relay attempt has outcome accepted/open" \
    'all(.relay.attempts[]; (.outcome | tostring | test("accept|open"; "i")) | not)'
  jcheck "${f}" "relay attempts only use reserved test domains (RFC 2606) or the server itself" \
    'all(.relay.attempts[]; .rcpt_to | tostring | test("example\\.(net|org|com)"))'
  jcheck "${f}" "steps include greeting, ehlo, starttls, tls_ehlo, relay, quit in that order" \
    '[.steps[].step] as $s
     | ["greeting", "ehlo", "starttls", "tls_ehlo", "relay", "quit"]
     | map(. as $w | $s | index($w)) | (all(. != null) and . == sort)'
  jcheck "${f}" "every step ok" 'all(.steps[]; .ok == true)'
  jcheck "${f}" "greeting step reply_code 220" \
    '.steps[] | select(.step == "greeting") | .reply_code == 220'
  jcheck "${f}" "starttls step reply_code 220" \
    '.steps[] | select(.step == "starttls") | .reply_code == 220'
  jcheck "${f}" "transcript has the 220 greeting" \
    'any(.transcript[]; .text | test("^220[ -]mx\\.test ESMTP Postfix"))'
  jcheck "${f}" "transcript has QUIT and 221" \
    'any(.transcript[]; .text | test("^QUIT$"; "i")) and any(.transcript[]; .text | test("^221"))'
  jcheck "${f}" "transcript has no DATA/BDAT command" \
    'all(.transcript[]; (.text | test("^(DATA|BDAT)\\b"; "i")) | not)'
  jcheck "${f}" "transcript timestamps are non-decreasing" \
    '[.transcript[].at_seconds] | . == sort'
fi

# ---------------------------------------------------------------------------------------------
section "closed relay, text"
probe closed_text 0 "${closed}" "${common[@]}" --relay-test --ca-file "${ca}" \
  --server-name mx.test --output text
closed_sessions=$((closed_sessions + 1))
echo "--- transcript (text output) of the closed-relay probe:"
cat "${top}/closed_text.cmd" "${top}/closed_text.out"
echo "--- end of text output"
check "closed_text: shows the greeting" grep -q "220 mx.test ESMTP Postfix" "${top}/closed_text.out"
check "closed_text: shows STARTTLS" grep -qi "STARTTLS" "${top}/closed_text.out"
check "closed_text: shows QUIT" grep -q "QUIT" "${top}/closed_text.out"
check "closed_text: shows a relay refusal (554 ... Relay access denied)" \
  grep -q "Relay access denied" "${top}/closed_text.out"
check "closed_text: no DATA/BDAT command" \
  absent "${top}/closed_text.out" '^[^0-9]*\b(DATA|BDAT)\b *$'

# ---------------------------------------------------------------------------------------------
section "closed relay, TLS policy (opportunistic vs required)"
# Without the CA the chain cannot be verified: reported, but not fatal with opportunistic STARTTLS.
probe closed_noca 0 "${closed}" "${common[@]}" --server-name mx.test --output json
closed_sessions=$((closed_sessions + 1))
f=${top}/closed_noca.out
if is_json closed_noca; then
  jcheck "${f}" "no CA: success true (opportunistic TLS)" '.success == true'
  jcheck "${f}" "no CA: starttls success, chain not verified, verify_error set" \
    '.starttls.success == true and .tls.chain_verified == false and .tls.verified == false
     and (.tls.verify_error | tostring | length) > 0'
  jcheck "${f}" "no CA: certificate facts still reported (chain[0] is mx.test)" \
    '.tls.chain[0].subject | test("mx\\.test")'
  jcheck "${f}" "no --relay-test: relay did not run" '.relay.ran == false'
fi
# Wrong name with the right CA: chain fine, hostname not.
probe closed_badname 0 "${closed}" "${common[@]}" --ca-file "${ca}" --server-name wrong.test \
  --output json
closed_sessions=$((closed_sessions + 1))
f=${top}/closed_badname.out
if is_json closed_badname; then
  jcheck "${f}" "wrong server name: chain verified, hostname not, overall not verified" \
    '.tls.chain_verified == true and .tls.hostname_verified == false and .tls.verified == false'
fi
# Required STARTTLS + unverifiable certificate: the probe fails on TLS.
probe closed_required_noca 1 "${closed}" "${common[@]}" --starttls required \
  --server-name mx.test --output json
closed_sessions=$((closed_sessions + 1))
f=${top}/closed_required_noca.out
if is_json closed_required_noca; then
  jcheck "${f}" "required TLS without CA: success false, failure_reason tls" \
    '.success == false and .failure_reason == "tls"'
fi
# Required STARTTLS + CA: healthy.
probe closed_required_ca 0 "${closed}" "${common[@]}" --starttls required --ca-file "${ca}" \
  --server-name mx.test --output json
closed_sessions=$((closed_sessions + 1))
f=${top}/closed_required_ca.out
if is_json closed_required_ca; then
  jcheck "${f}" "required TLS with CA: success, verified" '.success == true and .tls.verified == true'
fi

# ---------------------------------------------------------------------------------------------
section "closed relay, every relay variant, custom EHLO name"
probe closed_all_variants 0 "${closed}" "${common[@]}" --relay-test --relay-variants all \
  --ehlo-name probe.example.org --ca-file "${ca}" --server-name mx.test --output json
closed_sessions=$((closed_sessions + 1))
f=${top}/closed_all_variants.out
if is_json closed_all_variants; then
  jcheck "${f}" "all variants: relay ran, not open, more than the basic 6 attempts" \
    '.relay.ran == true and .relay.open == false and (.relay.attempts | length) > 6'
  jcheck "${f}" "all variants: every attempt refused with a 5xx" \
    'all(.relay.attempts[];
         ((.rcpt_code // 0) >= 500 and (.rcpt_code // 0) < 600)
         or (.rcpt_code == null and (.mail_code // 0) >= 500 and (.mail_code // 0) < 600))'
  jcheck "${f}" "all variants: variant names are unique" \
    '[.relay.attempts[].variant] | length == (unique | length)'
fi
check "all variants: Postfix saw EHLO probe.example.org" \
  grep -q 'helo=<probe.example.org>' "${top}/closed/log/maillog"

section "closed relay, --starttls off"
probe closed_starttls_off 0 "${closed}" "${common[@]}" --starttls off --output json
closed_sessions=$((closed_sessions + 1))
f=${top}/closed_starttls_off.out
if is_json closed_starttls_off; then
  jcheck "${f}" "starttls off: offered but not attempted, no TLS facts" \
    '.starttls.offered == true and (.starttls.success // false) == false and .tls == null'
  jcheck "${f}" "starttls off: no STARTTLS command in the transcript" \
    'all(.transcript[]; (.text | test("^STARTTLS"; "i")) | not)'
  jcheck "${f}" "starttls off: success" '.success == true'
fi

section "closed instance, implicit TLS (smtps, 127.0.0.1:${smtps_port})"
probe closed_implicit_tls 0 "127.0.0.1:${smtps_port}" "${common[@]}" --implicit-tls \
  --ca-file "${ca}" --server-name mx.test --output json
closed_sessions=$((closed_sessions + 1))
f=${top}/closed_implicit_tls.out
if is_json closed_implicit_tls; then
  jcheck "${f}" "implicit TLS: success, greeting from Postfix over TLS" \
    '.success == true and .greeting.software == "Postfix" and .greeting.hostname == "mx.test"'
  jcheck "${f}" "implicit TLS: verified with the test CA" \
    '.tls.chain_verified == true and .tls.hostname_verified == true and .tls.verified == true'
  jcheck "${f}" "implicit TLS: no STARTTLS command sent" \
    'all(.transcript[]; (.text | test("^STARTTLS"; "i")) | not)'
fi
probe closed_implicit_tls_noca 1 "127.0.0.1:${smtps_port}" "${common[@]}" --implicit-tls \
  --server-name mx.test --output json
closed_sessions=$((closed_sessions + 1))
f=${top}/closed_implicit_tls_noca.out
if is_json closed_implicit_tls_noca; then
  jcheck "${f}" "implicit TLS without CA: fails with reason tls, certificate facts still reported" \
    '.success == false and .failure_reason == "tls" and (.tls.chain[0].subject | test("mx\\.test"))'
fi

# ---------------------------------------------------------------------------------------------
section "open relay, JSON (${open})"
probe open_json 1 "${open}" "${common[@]}" --relay-test --ca-file "${ca}" --server-name mx.test \
  --output json
open_sessions=$((open_sessions + 1))
f=${top}/open_json.out
if is_json open_json; then
  # .success is "every step worked" (smtp_probe_success); the open relay is its own verdict
  # (relay.open / smtp_relay_open) and makes the exit code 1. Shown, not asserted.
  echo "info - open relay: success=$(jq -c .success "${f}") failed_step=$(jq -c .failed_step "${f}")"
  jcheck "${f}" "greeting.software is Postfix" '.greeting.software == "Postfix"'
  jcheck "${f}" "greeting.version is ${postfix_version} (banner \"ESMTP Postfix (${postfix_version})\")" \
    '.greeting.version == $v' --arg v "${postfix_version}"
  jcheck "${f}" "esmtp true, starttls success" '.esmtp == true and .starttls.success == true'
  jcheck "${f}" "relay ran and open is true" '.relay.ran == true and .relay.open == true'
  jcheck "${f}" "at least one attempt accepted at RCPT (250/251)" \
    'any(.relay.attempts[]; .rcpt_code == 250 or .rcpt_code == 251)'
  jcheck "${f}" "every basic relay attempt accepted at RCPT on this open relay" \
    'all(.relay.attempts[]; .rcpt_code == 250 or .rcpt_code == 251)'
  jcheck "${f}" "QUIT still sent (transcript has QUIT and 221)" \
    'any(.transcript[]; .text | test("^QUIT$"; "i")) and any(.transcript[]; .text | test("^221"))'
  jcheck "${f}" "transcript has no DATA/BDAT command" \
    'all(.transcript[]; (.text | test("^(DATA|BDAT)\\b"; "i")) | not)'
fi

section "open relay, text"
probe open_text 1 "${open}" "${common[@]}" --relay-test --ca-file "${ca}" --server-name mx.test \
  --output text
open_sessions=$((open_sessions + 1))
cat "${top}/open_text.cmd" "${top}/open_text.out"
echo "--- end of text output"
check "open_text: mentions an open relay" grep -Eqi "open relay|relay.*open" "${top}/open_text.out"

# ---------------------------------------------------------------------------------------------
# Postfix's side of the story. postlogd writes asynchronously: wait for every session's
# "disconnect from" line (smtpd logs it with per-command counters, e.g.
# "disconnect from unknown[127.0.0.1] ehlo=2 starttls=1 mail=6 rcpt=0/6 rset=5 quit=1 commands=15/21").
postfix_log_checks() {
  local flavour=$1 sessions=$2 dir=${top}/$1 log i n
  log=${dir}/log/maillog
  section "Postfix log of the ${flavour} instance"
  for ((i = 0; i < 100; i++)); do
    n=$(grep -c 'smtpd\[[0-9]*\]: disconnect from ' "${log}" || true)
    [[ ${n} -ge ${sessions} ]] && break
    sleep 0.1
  done
  grep -E 'smtpd\[[0-9]+\]: (connect|disconnect|lost connection|NOQUEUE|warning|fatal|[0-9A-F]+: )' \
    "${log}" | sed 's/^/  | /' || true
  n=$(grep -c 'smtpd\[[0-9]*\]: connect from ' "${log}" || true)
  check "${flavour}: Postfix saw ${sessions} connections (saw ${n})" test "${n}" -eq "${sessions}"
  n=$(grep -c 'smtpd\[[0-9]*\]: disconnect from ' "${log}" || true)
  check "${flavour}: ${sessions} sessions ended (saw ${n} disconnect lines)" test "${n}" -eq "${sessions}"
  check "${flavour}: every session ended with QUIT (quit=1 on each disconnect line)" \
    all_disconnects_quit "${log}"
  check "${flavour}: no session sent DATA or BDAT (no data=/bdat= counters)" \
    no_disconnect_with_data "${log}"
  check "${flavour}: no DATA/BDAT rejections logged" \
    absent "${log}" 'reject: (DATA|BDAT|END-OF-MESSAGE)'
  check "${flavour}: no lost connections (prober never hung up without QUIT)" \
    absent "${log}" 'lost connection'
  check "${flavour}: no pipelining or protocol violations reported by smtpd" \
    absent "${log}" 'improper command pipelining|non-SMTP command|too many errors|unknown command'
  check "${flavour}: no smtpd warnings or fatal errors" \
    absent "${log}" 'smtpd\[[0-9]+\]: (warning|fatal|panic):'
  check "${flavour}: nothing was delivered or queued (no qmgr/cleanup/discard activity)" \
    absent "${log}" '(qmgr|cleanup|discard|error|smtp)\[[0-9]+\]: [0-9A-F]+: |status=(sent|deferred|bounced)'
  n=$(pf_queue_files "${dir}" | wc -l)
  check "${flavour}: queue directories hold no files (${n})" test "${n}" -eq 0
  check "${flavour}: postqueue -p says the queue is empty" \
    queue_reported_empty "${dir}/etc"
}
postfix_log_checks closed "${closed_sessions}"
check "closed: Postfix logged relay refusals" grep -q "Relay access denied" "${top}/closed/log/maillog"
check "closed: Postfix logged TLS sessions" grep -q "TLS connection established" "${top}/closed/log/maillog"
postfix_log_checks open "${open_sessions}"

# ---------------------------------------------------------------------------------------------
section "result"
echo "${passes} passed, ${failures} failed"
[[ ${failures} -eq 0 ]]
