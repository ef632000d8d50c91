#!/usr/bin/env bash
# jq filters and awk programs are single-quoted on purpose ($vars in them are jq/awk variables):
# shellcheck disable=SC2016
# Real-MTA test: `smtp_exporter probe` against Postfix as a catch-all MX, two throwaway instances
# on 127.0.0.1 (the "catchall" flavour of tests/integration/postfix_instance.sh: relaying refused,
# STARTTLS, and virtual_alias_maps "@mx.test -> postmaster", so ANY local part at mx.test is
# accepted at RCPT):
#
#   catchall          stock Postfix routing rules. The random local part is accepted, but the
#                     address hacks are refused all the same ("Relay access denied"): smtpd's
#                     reject_unauth_destination refuses local parts with routing operators
#                     (% ! @) from untrusted clients (allow_untrusted_routing = no).
#   catchall_routing  the same, plus allow_untrusted_routing = yes, allow_percent_hack = no and
#                     swap_bangpath = no: % and ! are plain characters of a local part, so
#                     <relay-test%example.net@mx.test> and <example.net!relay-test@mx.test> are
#                     local mail for the catch-all and get 250. Still not an open relay: the
#                     prober must say closed with catch_all true (the headline bug: it said open).
#
# The truth is each instance's config and its own maillog, where smtpd logs the whole dialogue
# with 127.0.0.1 (debug_peer_list): the RCPT codes in the JSON must be the logged ones and the
# outcomes must follow from them; every session ends with QUIT, no DATA/BDAT, nothing queued.
#
#   postfix_catchall_test.sh /path/to/smtp_exporter
# Exit: 0 passed, 1 failed, 77 skipped (postfix not installed, or not root).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=mta_lib.sh
source "${here}/mta_lib.sh"
mta_begin postfix-catchall "$@"
command -v postfix >/dev/null 2>&1 || mta_skip "postfix is not installed (apt-get install postfix)"
for tool in postconf postqueue; do
  command -v "${tool}" >/dev/null 2>&1 || {
    fail "required tool '${tool}' is not installed"
    exit 1
  }
done
# shellcheck source-path=SCRIPTDIR source=../integration/postfix_instance.sh
source "${here}/../integration/postfix_instance.sh"
mta_on_exit pf_stop_all
postfix_version=$(postconf -h -d mail_version 2>/dev/null)
common=(--timeout 20s --no-reverse-dns)

# common_checks FILE NAME: greeting, STARTTLS and transcript facts true of every probe here.
common_checks() {
  local f=$1 n=$2
  jcheck "${f}" "${n}: greeting mx.test, software Postfix, no version (banner hides it)" \
    '.greeting.hostname == "mx.test" and .greeting.software == "Postfix" and (.greeting.version // "") == ""'
  jcheck "${f}" "${n}: STARTTLS done, certificate verified with the test CA" \
    '.starttls.success == true and .tls.verified == true'
  jcheck "${f}" "${n}: success, healthy, verdict UP" \
    '.success == true and .healthy == true and (.verdict | test("^UP"))'
  jcheck "${f}" "${n}: relay.verdict closed, open false, complete" \
    '.relay.ran == true and .relay.verdict == "closed" and .relay.open == false and .relay.complete == true'
  jcheck "${f}" "${n}: relay.catch_all true" '.relay.catch_all == true'
  jcheck "${f}" "${n}: a catch-all check at mx.test with a random local part, accepted with 250" \
    'any(.relay.catch_all_checks[]; .domain == "mx.test"
         and (.rcpt_to | test("^<?smtp-exporter-catch-all-[0-9a-f]{12}@mx\\.test>?$"))
         and .rcpt_code == 250 and .accepted == true)'
  jcheck "${f}" "${n}: no attempt has outcome accepted, no finding says open relay" \
    'all(.relay.attempts[]; .outcome != "accepted") and all(.findings[]; test("open relay"; "i") | not)'
  transcript_quit_no_data "${f}" "${n}"
}
pf_end='smtpd\[[0-9]+\]: disconnect from '
pf_cmd=': < [^ ]+: '
pf_reply=': > [^ ]+: '
declare -A sessions=()
# pf_probe NAME INSTANCE RC ARGS...: served_probe against the instance's maillog.
pf_probe() {
  local name=$1 inst=$2 want=$3
  shift 3
  served_probe "${name}" "${want}" "${top}/${inst}/log/maillog" "${pf_end}" "$@"
  sessions[${inst}]=$((${sessions[${inst}]:-0} + 1))
  if is_json "${name}"; then
    server_truth "${name}" "${pf_cmd}" "${pf_reply}"
    return 0
  fi
  return 1
}
# Postfix's own account of INSTANCE's sessions (as postfix_test.sh checks it).
pf_log_checks() {
  local inst=$1 dir=${top}/$1 log want n bad
  log=${dir}/log/maillog
  want=${sessions[${inst}]:-0}
  section "Postfix's log of ${inst}"
  wait_log "${log}" 0 "${pf_end}" "${want}" 10 || true
  grep -E 'smtpd\[[0-9]+\]: (connect from|disconnect from|lost connection|NOQUEUE|warning|fatal)' \
    "${log}" | sed 's/^/  | /' || true
  n=$(grep -cE 'smtpd\[[0-9]+\]: connect from ' "${log}" || true)
  check "${inst}: Postfix saw ${want} connections (saw ${n})" test "${n}" -eq "${want}"
  n=$(grep -cE "${pf_end}" "${log}" || true)
  check "${inst}: ${want} sessions ended (saw ${n} disconnect lines)" test "${n}" -eq "${want}"
  bad=$(grep -E "${pf_end}" "${log}" | grep -v ' quit=1 ' || true)
  check "${inst}: every session ended with QUIT (quit=1 on each disconnect line)" test -z "${bad}"
  bad=$(grep -E "${pf_end}" "${log}" | grep -E ' (data|bdat)=' || true)
  check "${inst}: no session sent DATA or BDAT (no data=/bdat= counters)" test -z "${bad}"
  check "${inst}: smtpd read no DATA/BDAT command" absent "${log}" "${pf_cmd}(DATA|BDAT)( |$)"
  check "${inst}: no lost connections, no pipelining or protocol violations" \
    absent "${log}" 'lost connection|improper command pipelining|non-SMTP command|too many errors'
  check "${inst}: no smtpd warnings or fatal errors" \
    absent "${log}" 'smtpd\[[0-9]+\]: (warning|fatal|panic):'
  check "${inst}: nothing was delivered or queued (no qmgr/cleanup/discard activity)" \
    absent "${log}" '(qmgr|cleanup|discard|error|smtp)\[[0-9]+\]: [0-9A-F]+: |status=(sent|deferred|bounced)'
  n=$(pf_queue_files "${dir}" | wc -l)
  check "${inst}: queue directories hold no files (${n})" test "${n}" -eq 0
  check "${inst}: postqueue -p says the queue is empty" \
    bash -c 'postqueue -c "$1" -p 2>&1 | grep -q "Mail queue is empty"' _ "${dir}/etc"
}

# ---------------------------------------------------------------------------------------------
section "setting up Postfix ${postfix_version} catch-all instances"
mta_make_ca "${top}/ca"
ca=${top}/ca/ca.pem
declare -A port=()
port[catchall]=$(mta_free_port)
port[catchall_routing]=$(mta_free_port)
while [[ "${port[catchall_routing]}" == "${port[catchall]}" ]]; do
  port[catchall_routing]=$(mta_free_port)
done
pf_create "${top}/catchall" catchall "${port[catchall]}" "${top}/ca"
pf_create "${top}/catchall_routing" catchall "${port[catchall_routing]}" "${top}/ca"
postconf -c "${top}/catchall_routing/etc" -e 'syslog_name = postfix-test-catchall-routing' \
  'allow_untrusted_routing = yes' 'allow_percent_hack = no' 'swap_bangpath = no'
pf_start "${top}/catchall"
pf_start "${top}/catchall_routing"
tls=(--ca-file "${ca}" --server-name mx.test)

# ---------------------------------------------------------------------------------------------
section "catchall (stock routing rules), basic relay variants"
n=catchall_basic
if pf_probe "${n}" catchall 0 "127.0.0.1:${port[catchall]}" "${common[@]}" --relay-test \
  "${tls[@]}" --output json; then
  f=${top}/${n}.out
  truth_table "${n}"
  common_checks "${f}" "${n}"
  expect_attempts "${f}" "${n}" null_sender=refused:554 external=refused:554 \
    spoof_local_name=refused:554 source_route_name=refused:554 \
    percent_name=refused:554 bang_name=refused:554
  check "${n}: the RCPT codes in the JSON are those in Postfix's log" same_rcpt_codes "${n}"
  check "${n}: every outcome and the relay verdict follow from Postfix's replies (catch-all)" \
    outcomes_follow "${n}" true
fi
section "catchall (stock routing rules), every relay variant"
n=catchall_all
if pf_probe "${n}" catchall 0 "127.0.0.1:${port[catchall]}" "${common[@]}" --relay-test \
  --relay-variants all "${tls[@]}" --output json; then
  f=${top}/${n}.out
  truth_table "${n}"
  common_checks "${f}" "${n}"
  jcheck "${f}" "${n}: every attempt refused (Postfix refuses routed local parts)" \
    'all(.relay.attempts[]; .outcome == "refused")'
  check "${n}: the RCPT codes in the JSON are those in Postfix's log" same_rcpt_codes "${n}"
  check "${n}: every outcome and the relay verdict follow from Postfix's replies (catch-all)" \
    outcomes_follow "${n}" true
fi

# ---------------------------------------------------------------------------------------------
section "catchall_routing (% and ! are plain local-part characters), basic relay variants"
n=routing_basic
if pf_probe "${n}" catchall_routing 0 "127.0.0.1:${port[catchall_routing]}" "${common[@]}" \
  --relay-test "${tls[@]}" --output json; then
  f=${top}/${n}.out
  truth_table "${n}"
  common_checks "${f}" "${n}"
  expect_attempts "${f}" "${n}" null_sender=refused:554 external=refused:554 \
    spoof_local_name=refused:554 source_route_name=refused:554 \
    percent_name=catch_all:250 bang_name=catch_all:250
  check "${n}: the RCPT codes in the JSON are those in Postfix's log" same_rcpt_codes "${n}"
  check "${n}: every outcome and the relay verdict follow from Postfix's replies (catch-all)" \
    outcomes_follow "${n}" true
fi
section "catchall_routing, every relay variant"
n=routing_all
if pf_probe "${n}" catchall_routing 0 "127.0.0.1:${port[catchall_routing]}" "${common[@]}" \
  --relay-test --relay-variants all "${tls[@]}" --output json; then
  f=${top}/${n}.out
  truth_table "${n}"
  common_checks "${f}" "${n}"
  jcheck "${f}" "${n}: every outcome is refused or catch_all" \
    'all(.relay.attempts[]; .outcome == "refused" or .outcome == "catch_all")'
  jcheck "${f}" "${n}: every 250 went to a hack and is catch_all" \
    'all(.relay.attempts[] | select(.rcpt_code == 250); .hack == true and .outcome == "catch_all")'
  check "${n}: the RCPT codes in the JSON are those in Postfix's log" same_rcpt_codes "${n}"
  check "${n}: every outcome and the relay verdict follow from Postfix's replies (catch-all)" \
    outcomes_follow "${n}" true
fi

pf_log_checks catchall
pf_log_checks catchall_routing
