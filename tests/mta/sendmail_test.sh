#!/usr/bin/env bash
# jq filters are single-quoted on purpose ($vars in them are jq variables):
# shellcheck disable=SC2016
# Real-MTA test: `smtp_exporter probe` against Sendmail 8 (Debian's sendmail-bin and sendmail-cf,
# unpacked by scripts/fetch-test-mtas; sendmail.cf built with m4 at test time) on 127.0.0.1.
#
#   sendmail_test.sh /path/to/smtp_exporter
#
# Two throwaway Sendmail instances (sendmail_instance.sh): "closed" (an MX for mx.test whose
# users are postmaster, user and root; relaying denied; STARTTLS, implicit TLS on a second port,
# a 2 s greet_pause on a third) and "open" (FEATURE(`promiscuous_relay')).
# The verdicts are checked against the truth from Sendmail's own traffic log (-X: every command
# it read and every reply it wrote, per session): every MAIL that it refused and every RCPT is
# compared, in order, with the prober's attempts; every session ended with QUIT, none sent
# DATA/BDAT, the queue stayed empty.
#
# Exit: 0 all assertions passed, 1 one failed ("FAIL - ..."), 77 skipped (sendmail-bin or
# sendmail-cf not unpacked, see scripts/fetch-test-mtas; or not root).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=mta_lib.sh
source "${here}/mta_lib.sh"
# shellcheck source-path=SCRIPTDIR source=sendmail_instance.sh
source "${here}/sendmail_instance.sh"

mta_begin sendmail "$@"
mta_on_exit sm_stop_all
mta_need sendmail-bin sendmail-cf
for tool in m4 unshare mount; do
  command -v "${tool}" >/dev/null || {
    fail "required tool '${tool}' is not installed (m4: apt-get install m4)"
    exit 1
  }
done
sm_ver=$(sm_version)

section "setting up Sendmail instances"
sm_users
# shellcheck disable=SC2154 # bin is set by mta_begin
echo "Sendmail ${sm_ver}; binary under test: ${bin}; temp dir ${top}"
mta_make_ca "${top}/ca"
read -r closed_port smtps_port delay_port open_port <<<"$(mta_free_ports 4)"
sm_create "${top}/closed" closed "${closed_port}" "${top}/ca" "${smtps_port}" "${delay_port}"
sm_start "${top}/closed"
# Run in the instance's namespaces only: outside them sendmail would look its own name up (DNS).
dV=$( (sm_run "${top}/closed" -d0.1 -bt </dev/null) 2>&1 || true)
check "sendmail -d0.1 reports version ${sm_ver} (package $(<"$(mta_root sendmail-bin)/.unpacked"))" \
  grep -q "^Version ${sm_ver//./\\.}\$" <<<"${dV}"
sm_create "${top}/open" open "${open_port}" "${top}/ca"
sm_start "${top}/open"
closed=127.0.0.1:${closed_port}
open=127.0.0.1:${open_port}
MTA_NAME=Sendmail MTA_VERSION=${sm_ver}

# ---------------------------------------------------------------------------------------------
# Sendmail's traffic log, per probe. Lines are "PID >>> reply-line" (written by sendmail) and
# "PID <<< command" (read by it); one PID per SMTP session.

# sm_sessions LOG: one line per session: "PID QUIT=0|1 DATA=0|1 LAST=<last command>".
sm_sessions() {
  awk '
    { sub(/\r$/, "") }
    $2 == "<<<" || $2 == ">>>" {
      if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1; quit[$1] = 0; data[$1] = 0 }
    }
    $2 == "<<<" {
      cmd = toupper($3)
      if (cmd == "QUIT") quit[$1] = 1
      if (cmd == "DATA" || cmd == "BDAT") data[$1] = 1
      last[$1] = $3
    }
    END {
      for (i = 1; i <= n; i++) {
        p = order[i]
        printf "%s QUIT=%d DATA=%d LAST=%s\n", p, quit[p], data[p], last[p]
      }
    }
  ' "$1"
}

# mta_probe NAME EXPECTED_RC DIR ARGS...: `probe`, then waits until every session in the traffic
# log read QUIT (at most 5 s) and keeps this probe's slice of it as ${top}/NAME.traffic.
mta_probe() {
  local name=$1 want=$2 dir=$3 before i log=$3/log/traffic
  shift 3
  before=$(wc -l <"${log}")
  probe "${name}" "${want}" "$@"
  for ((i = 0; i < 50; i++)); do
    tail -n +$((before + 1)) "${log}" >"${top}/${name}.traffic"
    if [[ -s "${top}/${name}.traffic" ]] && ! sm_sessions "${top}/${name}.traffic" | grep -q 'QUIT=0'; then
      break
    fi
    sleep 0.1
  done
  sed 's/^/  | /' "${top}/${name}.traffic"
}

# What Sendmail answered, from its traffic log: one line per MAIL that it refused and per RCPT,
# in order: "VERB<TAB><address as sent><TAB>code<TAB>reply text" (the last line of the reply).
sm_log_events() {
  awk '
    function addr(c,   a) { a = substr(c, index(c, "<")); sub(/>[^>]*$/, ">", a); return a }
    { sub(/\r$/, "") }
    $2 == "<<<" { pending[$1] = substr($0, index($0, "<<< ") + 4); next }
    $2 == ">>>" {
      line = substr($0, index($0, ">>> ") + 4)
      if (substr(line, 4, 1) == "-") next
      code = substr(line, 1, 3) + 0
      c = pending[$1]; pending[$1] = ""
      if (toupper(c) ~ /^MAIL FROM:/ && code >= 400) printf "MAIL FROM\t%s\t%d\t%s\n", addr(c), code, substr(line, 5)
      if (toupper(c) ~ /^RCPT TO:/) printf "RCPT TO\t%s\t%d\t%s\n", addr(c), code, substr(line, 5)
    }
  ' "$1"
}

# mta_truth_checks NAME: the prober's attempts and catch-all checks against Sendmail's traffic log.
mta_truth_checks() {
  sm_log_events "${top}/$1.traffic" >"${top}/$1.truth"
  ordered_truth_checks "$1" "its traffic log"
}

# mta_session_checks NAME: every session in the traffic log read QUIT and no DATA/BDAT; Sendmail
# never hangs up on syntax errors, so there is one session (plus one per reconnect, if any).
mta_session_checks() {
  local name=$1 log=${top}/$1.traffic s reconnects
  sm_sessions "${log}" >"${top}/${name}.sessions"
  s=$(wc -l <"${top}/${name}.sessions")
  reconnects=$(jq -r '.relay.reconnects // 0' "${top}/${name}.out" 2>/dev/null || echo 0)
  check "${name}: every Sendmail session read QUIT ($(tr '\n' ' ' <"${top}/${name}.sessions"))" \
    absent "${top}/${name}.sessions" 'QUIT=0'
  check "${name}: no Sendmail session read DATA/BDAT" absent "${top}/${name}.sessions" 'DATA=1'
  check "${name}: sessions = 1 + relay.reconnects (Sendmail saw ${s}, reconnects ${reconnects})" \
    test "${s}" -eq $((1 + reconnects))
}

# ---------------------------------------------------------------------------------------------
section "closed instance, basic relay variants, STARTTLS verified (${closed})"
closed_basic_scenario closed_basic "${top}/closed" "${closed}"
jcheck "${top}/closed_basic.out" "relay: every basic variant refused with 550 Relaying denied" \
  'all(.relay.attempts[]; .rcpt_code == 550 and .outcome == "refused")'
check "closed_basic: Sendmail said Relaying denied" \
  grep -q '>>> 550 5.7.1 .*Relaying denied' "${top}/closed_basic.traffic"

section "closed instance, every relay variant"
all_variants_scenario closed_all 0 "${top}/closed" "${closed}" closed
f=${top}/closed_all.out
# What Sendmail 8.17 answers with its default rulesets (from this config; its traffic log
# says the same).
expect_attempts "${f}" closed_all null_sender=refused:550 external=refused:550 \
  spoof_local_name=refused:550 percent_ip=refused:550 percent_name=refused:550 \
  quoted=refused:550 quoted_percent=refused:550 double_at_ip=refused:553 double_at_name=refused:553 \
  quoted_at_ip=refused:550 source_route_ip=refused:550 source_route_name=refused:550 \
  bang=refused:550 bang_ip=refused:550 bang_name=refused:550
jcheck "${f}" "closed_all: spoof_local_ip refused at MAIL with 553 (real domain name required)" \
  '.relay.attempts[] | select(.variant == "spoof_local_ip") | .mail_code == 553 and .outcome == "refused"'
jcheck "${f}" "relay.reconnects 0 (Sendmail does not hang up on bad addresses)" '.relay.reconnects == 0'

section "closed instance, text output"
text_scenario closed_text "${top}/closed" "${closed}" "220 mx.test ESMTP Sendmail ${sm_ver}/" \
  "Relaying denied"

section "closed instance, no CA: opportunistic STARTTLS reports the failed verification"
unverified_starttls_scenario closed_noca "${top}/closed" "${closed}"

section "closed instance, implicit TLS (DaemonPortOptions M=s, 127.0.0.1:${smtps_port})"
implicit_tls_scenario closed_smtps "${top}/closed" "127.0.0.1:${smtps_port}"
check "closed_smtps: the session never saw a STARTTLS command (TLS from the first byte)" \
  absent "${top}/closed_smtps.traffic" '<<< STARTTLS'

section "closed instance, greet_pause 2 s (127.0.0.1:${delay_port})"
delayed_greeting_scenario closed_delay "${top}/closed" "127.0.0.1:${delay_port}"
check "closed_delay: Sendmail did not see the client talk first (no 554 'not accepting')" \
  absent "${top}/closed_delay.traffic" '>>> 554'

# ---------------------------------------------------------------------------------------------
section "open instance, basic relay variants (${open})"
# catch_all false: unknown users at mx.test are still refused. percent_name and bang_name are
# hacks: they prove the relay because the catch-all is refused.
open_basic_scenario open_basic "${top}/open" "${open}" false
expect_attempts "${top}/open_basic.out" open_basic null_sender=accepted:250 external=accepted:250 \
  spoof_local_name=accepted:250 percent_name=accepted:250 source_route_name=accepted:250 \
  bang_name=accepted:250

section "open instance, every relay variant"
all_variants_scenario open_all 1 "${top}/open" "${open}" open
f=${top}/open_all.out
jcheck "${f}" "every non-hack variant accepted" \
  'all(.relay.attempts[] | select(.hack == false and .mail_code == 250); .outcome == "accepted")
   and ([.relay.attempts[] | select(.hack == false)] | length) >= 5'
# The hacks at [127.0.0.1] and the unqualified ones are accepted too (250), but what they prove
# depends on the catch-all answer at that domain: [127.0.0.1] is relayed to (a catch-all),
# unqualified unknown users are refused. outcomes_by_domain (relay_common_checks) checks them;
# outcomes_follow, with one catch-all answer for every domain, cannot.
expect_attempts "${f}" open_all null_sender=accepted:250 external=accepted:250 \
  spoof_local_name=accepted:250 percent_name=accepted:250 double_at_ip=refused:553 \
  double_at_name=refused:553 source_route_ip=accepted:250 source_route_name=accepted:250 \
  bang_name=accepted:250
jcheck "${f}" "percent_ip, quoted, quoted_percent, quoted_at_ip, bang, bang_ip: RCPT 250" \
  'all(.relay.attempts[]
       | select(.variant | IN("percent_ip", "quoted", "quoted_percent", "quoted_at_ip", "bang", "bang_ip"));
       .rcpt_code == 250)'
jcheck "${f}" "spoof_local_ip refused at MAIL with 553 (real domain name required)" \
  '.relay.attempts[] | select(.variant == "spoof_local_ip") | .mail_code == 553 and .outcome == "refused"'

# ---------------------------------------------------------------------------------------------
for flavour in closed open; do
  section "Sendmail's traffic log and queue, ${flavour} instance"
  dir=${top}/${flavour}
  check "${flavour}: no session ever sent DATA or BDAT" absent "${dir}/log/traffic" '<<< (DATA|BDAT)'
  check "${flavour}: the daemon wrote nothing to stdout/stderr" test ! -s "${dir}/log/daemon.out"
  n=$(sm_queue_files "${dir}" | wc -l)
  check "${flavour}: queue directory holds no files (${n})" test "${n}" -eq 0
done
