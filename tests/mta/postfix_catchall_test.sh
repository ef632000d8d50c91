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

# common_checks FILE NAME: greeting, STARTTLS and transcript facts true of every probe here, and
# those of a catch-all that refuses to relay.
common_checks() {
  local f=$1 n=$2
  jcheck "${f}" "${n}: greeting mx.test, software Postfix, no version (banner hides it)" \
    '.greeting.hostname == "mx.test" and .greeting.software == "Postfix" and (.greeting.version // "") == ""'
  jcheck "${f}" "${n}: STARTTLS done, certificate verified with the test CA" \
    '.starttls.success == true and .tls.verified == true'
  closed_catch_all_checks "${f}" "${n}"
  transcript_quit_no_data "${f}" "${n}"
}
served_end='smtpd\[[0-9]+\]: disconnect from ' served_cmd=': < [^ ]+: ' served_reply=': > [^ ]+: '
# pf_probe NAME INSTANCE RC ARGS...: served_json_probe against the instance's maillog, then the
# checks of every probe here.
pf_probe() {
  served_json_probe "$1" "$2" "$3" "${top}/$2/log/maillog" "${@:4}" "${mta_tls[@]}" --output json ||
    return 1
  common_checks "${top}/$1.out" "$1"
}
# Postfix's own account of INSTANCE's sessions (as postfix_test.sh checks it).
pf_log_checks() {
  local inst=$1 dir=${top}/$1 log want n bad
  log=${dir}/log/maillog
  want=${served_sessions[${inst}]:-0}
  section "Postfix's log of ${inst}"
  wait_log "${log}" 0 "${served_end}" "${want}" 10 || true
  grep -E 'smtpd\[[0-9]+\]: (connect from|disconnect from|lost connection|NOQUEUE|warning|fatal)' \
    "${log}" | sed 's/^/  | /' || true
  n=$(grep -cE 'smtpd\[[0-9]+\]: connect from ' "${log}" || true)
  check "${inst}: Postfix saw ${want} connections (saw ${n})" test "${n}" -eq "${want}"
  n=$(grep -cE "${served_end}" "${log}" || true)
  check "${inst}: ${want} sessions ended (saw ${n} disconnect lines)" test "${n}" -eq "${want}"
  bad=$(grep -E "${served_end}" "${log}" | grep -v ' quit=1 ' || true)
  check "${inst}: every session ended with QUIT (quit=1 on each disconnect line)" test -z "${bad}"
  bad=$(grep -E "${served_end}" "${log}" | grep -E ' (data|bdat)=' || true)
  check "${inst}: no session sent DATA or BDAT (no data=/bdat= counters)" test -z "${bad}"
  check "${inst}: smtpd read no DATA/BDAT command" absent "${log}" "${served_cmd}(DATA|BDAT)( |$)"
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
declare -A port=()
read -r 'port[catchall]' 'port[catchall_routing]' <<<"$(mta_free_ports 2)"
pf_create "${top}/catchall" catchall "${port[catchall]}" "${top}/ca"
pf_create "${top}/catchall_routing" catchall "${port[catchall_routing]}" "${top}/ca"
postconf -c "${top}/catchall_routing/etc" -e 'syslog_name = postfix-test-catchall-routing' \
  'allow_untrusted_routing = yes' 'allow_percent_hack = no' 'swap_bangpath = no'
pf_start "${top}/catchall"
pf_start "${top}/catchall_routing"

# ---------------------------------------------------------------------------------------------
section "catchall (stock routing rules), basic relay variants"
n=catchall_basic
if pf_probe "${n}" catchall 0 "127.0.0.1:${port[catchall]}" "${mta_args[@]}" --relay-test; then
  expect_attempts "${top}/${n}.out" "${n}" null_sender=refused:554 external=refused:554 \
    spoof_local_name=refused:554 source_route_name=refused:554 \
    percent_name=refused:554 bang_name=refused:554
  rcpt_truth_checks "${n}" Postfix true
fi
section "catchall (stock routing rules), every relay variant"
n=catchall_all
if pf_probe "${n}" catchall 0 "127.0.0.1:${port[catchall]}" "${mta_args[@]}" --relay-test \
  --relay-variants all; then
  jcheck "${top}/${n}.out" "${n}: every attempt refused (Postfix refuses routed local parts)" \
    'all(.relay.attempts[]; .outcome == "refused")'
  rcpt_truth_checks "${n}" Postfix true
fi

# ---------------------------------------------------------------------------------------------
section "catchall_routing (% and ! are plain local-part characters), basic relay variants"
n=routing_basic
if pf_probe "${n}" catchall_routing 0 "127.0.0.1:${port[catchall_routing]}" "${mta_args[@]}" \
  --relay-test; then
  expect_attempts "${top}/${n}.out" "${n}" null_sender=refused:554 external=refused:554 \
    spoof_local_name=refused:554 source_route_name=refused:554 \
    percent_name=catch_all:250 bang_name=catch_all:250
  rcpt_truth_checks "${n}" Postfix true
fi
section "catchall_routing, every relay variant"
n=routing_all
if pf_probe "${n}" catchall_routing 0 "127.0.0.1:${port[catchall_routing]}" "${mta_args[@]}" \
  --relay-test --relay-variants all; then
  hacks_are_catch_all_checks "${top}/${n}.out" "${n}"
  rcpt_truth_checks "${n}" Postfix true
fi

pf_log_checks catchall
pf_log_checks catchall_routing
