#!/usr/bin/env bash
# jq filters are single-quoted on purpose ($vars in them are jq variables):
# shellcheck disable=SC2016
# Real-MTA test: `smtp_exporter probe` against Exim 4 (Debian's exim4-daemon-light, unpacked by
# scripts/fetch-test-mtas) on 127.0.0.1.
#
#   exim_test.sh /path/to/smtp_exporter
#
# Two throwaway Exim instances (exim_instance.sh): "closed" (an MX for mx.test that knows only
# postmaster and user, refuses to relay; STARTTLS, implicit TLS on a second port, a 2 s greeting
# delay on a third) and "open" (relay_from_hosts = 127.0.0.1). Exim keeps its default
# smtp_max_synprot_errors (3): with --relay-variants all, several variants draw 501 and Exim hangs
# up after the fourth syntax error of a session; the prober must reconnect and finish.
# The verdicts are checked against the truth from Exim's own mainlog: every MAIL/RCPT that Exim
# refused or accepted is compared, in order, with the prober's attempts; every session ended with
# QUIT (or Exim dropped it for syntax errors and the prober reconnected), no DATA/BDAT, nothing
# spooled.
#
# Exit: 0 all assertions passed, 1 one failed ("FAIL - ..."), 77 skipped (exim4-daemon-light not
# unpacked, see scripts/fetch-test-mtas; or not root).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=mta_lib.sh
source "${here}/mta_lib.sh"
# shellcheck source-path=SCRIPTDIR source=exim_instance.sh
source "${here}/exim_instance.sh"

mta_begin exim "$@"
mta_on_exit ex_stop_all
mta_need exim4-daemon-light
exim=$(ex_binary)
exim_version=$(ex_version)

section "setting up Exim instances"
ex_users
bV=$("${exim}" -C /dev/null -bV 2>&1) || {
  fail "${exim} -bV does not run (a shared library missing? it needs libidn12):"
  printf '%s\n' "${bV}"
  exit 1
}
check "exim -bV reports version ${exim_version} (package $(<"$(mta_root exim4-daemon-light)/.unpacked"))" \
  grep -q "^Exim version ${exim_version//./\\.} " <<<"${bV}"
# shellcheck disable=SC2154 # bin is set by mta_begin
echo "Exim ${exim_version}; binary under test: ${bin}; temp dir ${top}"
mta_make_ca "${top}/ca"
read -r closed_port smtps_port delay_port open_port <<<"$(mta_free_ports 4)"
ex_create "${top}/closed" closed "${closed_port}" "${top}/ca" "${smtps_port}" "${delay_port}"
ex_start "${top}/closed"
ex_create "${top}/open" open "${open_port}" "${top}/ca"
ex_start "${top}/open"
closed=127.0.0.1:${closed_port}
open=127.0.0.1:${open_port}
MTA_NAME=Exim MTA_VERSION=${exim_version}

# ---------------------------------------------------------------------------------------------
# Exim's log, per probe.

# Session boundaries in Exim's mainlog (log_selector +smtp_connection).
ex_starts() { grep -cE 'SMTP connection from \[127\.0\.0\.1\]:[0-9]+ \(TCP/IP connection count' "$1" || true; }
ex_quits() { grep -cE 'SMTP connection from .*\[127\.0\.0\.1\]:[0-9]+ closed by QUIT' "$1" || true; }
ex_drops() { grep -cE 'SMTP call from .* dropped: too many syntax or protocol errors' "$1" || true; }
ex_bad_ends() {
  local ere='lost|unexpected disconnection|TLS error|command timeout|closed by DROP'
  ere+='|dropped: too many (unrecognized|nonmail)|connection (refused|rejected)'
  grep -E "${ere}" "$1" || true
}

# mta_probe NAME EXPECTED_RC DIR ARGS...: `probe`, then waits until Exim logged the end of every
# session it started and keeps this probe's slice of the mainlog as ${top}/NAME.mainlog.
mta_probe() {
  local name=$1 want=$2 dir=$3 before i log=$3/log/mainlog
  shift 3
  before=$(wc -l <"${log}")
  probe "${name}" "${want}" "$@"
  for ((i = 0; i < 50; i++)); do
    tail -n +$((before + 1)) "${log}" >"${top}/${name}.mainlog"
    local s e
    s=$(ex_starts "${top}/${name}.mainlog")
    e=$(($(ex_quits "${top}/${name}.mainlog") + $(ex_drops "${top}/${name}.mainlog")))
    [[ -n "$(ex_bad_ends "${top}/${name}.mainlog")" ]] && break
    ((s > 0 && e >= s)) && break
    sleep 0.1
  done
  sed 's/^/  | /' "${top}/${name}.mainlog"
}

# What Exim answered, from its mainlog: one line per MAIL that it refused and per RCPT that it
# refused or accepted, in order: "VERB<TAB><address as sent><TAB>code<TAB>Exim's reason".
#   SMTP syntax error in "RCPT TO:<a>" H=... [127.0.0.1]:port reason    -> 501 (synprot error)
#   unqualified recipient rejected: <a> H=...                           -> 501 (no domain)
#   H=... F=<s> rejected RCPT <a>: reason                               -> 550 (ACL deny)
#   ACCEPTED RCPT (rule) RCPT TO:<a>                                     -> 250 (our logwrite)
ex_log_events() {
  sed -nE \
    -e 's/.*SMTP syntax error in "(MAIL FROM|RCPT TO):(<.*>)[^"]*" H=.*\]:[0-9]+ (.*)$/\1\t\2\t501\t\3/p' \
    -e 's/.*unqualified recipient rejected: (<.*>) H=.*/RCPT TO\t\1\t501\tunqualified recipient rejected/p' \
    -e 's/.* rejected RCPT (<.*>): (.*)$/RCPT TO\t\1\t550\t\2/p' \
    -e 's/.*ACCEPTED RCPT \(([^)]*)\) RCPT TO:(<.*>).*/RCPT TO\t\2\t250\taccepted (\1)/p' "$1"
}

# mta_truth_checks NAME: the prober's attempts and catch-all checks against Exim's log.
mta_truth_checks() {
  ex_log_events "${top}/$1.mainlog" >"${top}/$1.truth"
  ordered_truth_checks "$1" "its mainlog"
}

# mta_session_checks NAME: every session Exim saw ended with QUIT, except those Exim itself
# dropped after too many syntax errors, and the prober reconnected once per drop.
mta_session_checks() {
  local name=$1 log=${top}/$1.mainlog s q d reconnects
  s=$(ex_starts "${log}")
  q=$(ex_quits "${log}")
  d=$(ex_drops "${log}")
  reconnects=$(jq -r '.relay.reconnects // 0' "${top}/${name}.out" 2>/dev/null || echo 0)
  check "${name}: no Exim session was lost, timed out or broke TLS" test -z "$(ex_bad_ends "${log}")"
  check "${name}: ${s} session(s): ${q} ended by QUIT, ${d} dropped by Exim (synprot)" \
    test "${s}" -eq $((q + d)) -a "${q}" -eq 1
  check "${name}: sessions = 1 + relay.reconnects (Exim saw ${s}, reconnects ${reconnects})" \
    test "${s}" -eq $((1 + reconnects))
  check "${name}: no DATA/BDAT in Exim's command history" absent "${log}" 'C=[^ ]*(DATA|BDAT)'
}

# ---------------------------------------------------------------------------------------------
section "closed instance, basic relay variants, STARTTLS verified (${closed})"
closed_basic_scenario closed_basic "${top}/closed" "${closed}"
f=${top}/closed_basic.out
tls_in_log=$(sed -nE 's/.* X=TLS1\.([0-9]):.*/TLSv1.\1/p' "${top}/closed_basic.mainlog" | head -n 1)
jcheck "${f}" "tls.version is what Exim logged (${tls_in_log:-none})" '.tls.version == $v' --arg v "${tls_in_log}"
expect_attempts "${f}" closed_basic null_sender=refused:550 external=refused:550 \
  spoof_local_name=refused:550 percent_name=refused:550 source_route_name=refused:550 \
  bang_name=refused:550

section "closed instance, every relay variant (Exim hangs up after the 4th syntax error)"
all_variants_scenario closed_all 0 "${top}/closed" "${closed}" closed
f=${top}/closed_all.out
jcheck "${f}" "relay.reconnects >= 1 (Exim dropped the session)" '.relay.reconnects >= 1'
jcheck "${f}" "some variants drew 501, all counted refused" \
  'any(.relay.attempts[]; .rcpt_code == 501 or .mail_code == 501)
   and all(.relay.attempts[]; if .rcpt_code == 501 or .mail_code == 501 then .outcome == "refused" else true end)'
# What Exim 4.96 answers with its default RCPT ACL (from this config; Exim's log says the same).
expect_attempts "${f}" closed_all null_sender=refused:550 external=refused:550 \
  spoof_local_name=refused:550 percent_ip=refused:501 percent_name=refused:550 \
  quoted=refused:501 quoted_percent=refused:501 double_at_ip=refused:501 double_at_name=refused:501 \
  quoted_at_ip=refused:501 source_route_ip=refused:501 source_route_name=refused:550 \
  bang=refused:501 bang_ip=refused:501 bang_name=refused:550
jcheck "${f}" "closed_all: spoof_local_ip refused at MAIL with 501 (domain literals not allowed)" \
  '.relay.attempts[] | select(.variant == "spoof_local_ip") | .mail_code == 501 and .outcome == "refused"'
check "closed_all: Exim logged the hang-up after too many syntax errors" \
  grep -q 'dropped: too many syntax or protocol errors' "${top}/closed_all.mainlog"

section "closed instance, text output"
text_scenario closed_text "${top}/closed" "${closed}" "220 mx.test ESMTP Exim ${exim_version}" \
  "550 relay not permitted"

section "closed instance, no CA: opportunistic STARTTLS reports the failed verification"
unverified_starttls_scenario closed_noca "${top}/closed" "${closed}"

section "closed instance, implicit TLS (tls_on_connect_ports, 127.0.0.1:${smtps_port})"
implicit_tls_scenario closed_smtps "${top}/closed" "127.0.0.1:${smtps_port}"
check "closed_smtps: Exim logged a TLS session" grep -qE ' X=TLS1\.[23]:' "${top}/closed_smtps.mainlog"

section "closed instance, greeting delayed 2 s by acl_smtp_connect (127.0.0.1:${delay_port})"
delayed_greeting_scenario closed_delay "${top}/closed" "127.0.0.1:${delay_port}"

# ---------------------------------------------------------------------------------------------
section "open instance, basic relay variants (${open})"
# catch_all true: relay_from_hosts accepts any local part at mx.test.
open_basic_scenario open_basic "${top}/open" "${open}" true
expect_attempts "${top}/open_basic.out" open_basic null_sender=accepted:250 external=accepted:250 \
  spoof_local_name=accepted:250 percent_name=refused:550 source_route_name=accepted:250 \
  bang_name=refused:550

section "open instance, every relay variant (with hang-up and reconnect)"
all_variants_scenario open_all 1 "${top}/open" "${open}" open
f=${top}/open_all.out
jcheck "${f}" "relay.reconnects >= 1" '.relay.reconnects >= 1'
jcheck "${f}" "accepted exactly: null_sender, external, spoof_local_name, source_route_name" \
  '([.relay.attempts[] | select(.outcome == "accepted") | .variant] | sort)
     == ["external", "null_sender", "source_route_name", "spoof_local_name"]'
jcheck "${f}" "spoof_local_ip refused at MAIL with 501 (domain literal)" \
  '.relay.attempts[] | select(.variant == "spoof_local_ip") | .mail_code == 501 and .outcome == "refused"'
expect_attempts "${f}" open_all null_sender=accepted:250 external=accepted:250 \
  spoof_local_name=accepted:250 percent_ip=refused:501 percent_name=refused:550 \
  quoted=refused:501 quoted_percent=refused:501 double_at_ip=refused:501 double_at_name=refused:501 \
  quoted_at_ip=refused:501 source_route_ip=refused:501 source_route_name=accepted:250 \
  bang=refused:501 bang_ip=refused:501 bang_name=refused:550
check "open_all: outcomes and verdict follow from Exim's replies (catch-all true)" \
  outcomes_follow open_all true
check "open_all: Exim logged the hang-up after too many syntax errors" \
  grep -q 'dropped: too many syntax or protocol errors' "${top}/open_all.mainlog"

# ---------------------------------------------------------------------------------------------
for flavour in closed open; do
  section "Exim's own log and spool, ${flavour} instance"
  dir=${top}/${flavour}
  check "${flavour}: no message ever reached DATA (no REFUSED MESSAGE, no <= arrival)" \
    absent "${dir}/log/mainlog" 'REFUSED MESSAGE| <= |rejected (after )?(DATA|BDAT)|Completed$'
  check "${flavour}: nothing delivered (no => / -> / ** lines)" absent "${dir}/log/mainlog" ' (=>|->|\*\*|==) '
  check "${flavour}: paniclog empty" test ! -s "${dir}/log/paniclog"
  n=$(ex_spool_files "${dir}" | wc -l)
  check "${flavour}: spool input/ and msglog/ hold no files (${n})" test "${n}" -eq 0
  check "${flavour}: exim -bpc counts 0 messages" test "$("${exim}" -C "${dir}/exim.conf" -bpc 2>/dev/null)" = 0
done
