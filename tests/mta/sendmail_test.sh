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
ca=${top}/ca/ca.pem
ports=()
while [[ ${#ports[@]} -lt 4 ]]; do
  p=$(mta_free_port)
  [[ " ${ports[*]} " == *" ${p} "* ]] || ports+=("${p}")
done
closed_port=${ports[0]} smtps_port=${ports[1]} delay_port=${ports[2]} open_port=${ports[3]}
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
# --no-reverse-dns: the target is an address literal, so the prober sends no DNS query at all.
common=(--timeout 20s --no-reverse-dns)
tls_ok=(--ca-file "${ca}" --server-name mx.test)

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

# sm_probe NAME EXPECTED_RC DIR ARGS...: `probe`, then waits until every session in the traffic
# log read QUIT (at most 5 s) and keeps this probe's slice of it as ${top}/NAME.traffic.
sm_probe() {
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

# truth_checks NAME: the prober's attempts and catch-all checks against Sendmail's traffic log,
# and the table "variant, what was sent, what Sendmail answered".
truth_checks() {
  local name=$1 f=${top}/$1.out
  sm_log_events "${top}/${name}.traffic" >"${top}/${name}.truth"
  grep -v 'smtp-exporter-catch-all-' "${top}/${name}.truth" | cut -f1-3 >"${top}/${name}.truth.variants" || true
  grep 'smtp-exporter-catch-all-' "${top}/${name}.truth" | cut -f1-3 >"${top}/${name}.truth.catchall" || true
  json_events "${f}" >"${top}/${name}.seen.variants"
  json_catch_all_events "${f}" >"${top}/${name}.seen.catchall"
  echo "--- ${name}: truth table (variant | command | Sendmail's answer, from its traffic log)"
  paste <(jq -r '.relay.attempts[] | select(.outcome != "not_run") | "\(.variant) -> \(.outcome)"' "${f}" 2>/dev/null) \
    <(grep -v 'smtp-exporter-catch-all-' "${top}/${name}.truth") | sed 's/^/    /' || true
  sed 's/^/    catch-all check: /' <(grep 'smtp-exporter-catch-all-' "${top}/${name}.truth") || true
  check "${name}: the prober's MAIL/RCPT results are exactly what Sendmail answered, in order" \
    diff -u "${top}/${name}.truth.variants" "${top}/${name}.seen.variants"
  check "${name}: the catch-all checks are exactly what Sendmail answered" \
    diff -u <(sort "${top}/${name}.truth.catchall") <(sort "${top}/${name}.seen.catchall")
}

# session_checks NAME: every session in the traffic log read QUIT and no DATA/BDAT; Sendmail
# never hangs up on syntax errors, so there is one session (plus one per reconnect, if any).
session_checks() {
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



greeting_checks() {
  local f=$1
  jcheck "${f}" "greeting: hostname mx.test" '.greeting.hostname == "mx.test"'
  jcheck "${f}" "greeting: code 220" '.greeting.code == 220'
  jcheck "${f}" "greeting: software Sendmail, version ${sm_ver} (from the package)" \
    '.greeting.software == "Sendmail" and .greeting.version == $v' --arg v "${sm_ver}"
  jcheck "${f}" "esmtp true" '.esmtp == true'
}

# ---------------------------------------------------------------------------------------------
section "closed instance, basic relay variants, STARTTLS verified (${closed})"
sm_probe closed_basic 0 "${top}/closed" "${closed}" "${common[@]}" --relay-test "${tls_ok[@]}" --output json
f=${top}/closed_basic.out
if is_json closed_basic; then
  greeting_checks "${f}"
  jcheck "${f}" "healthy, verdict UP" '.healthy == true and (.verdict | test("^UP"))'
  jcheck "${f}" "starttls offered and success, no fallback" \
    '.starttls.offered == true and .starttls.success == true and (.starttls.plaintext_fallback // false) == false'
  jcheck "${f}" "tls: TLSv1.2/1.3, verified (chain and hostname) with the test CA" \
    '(.tls.version | test("^TLSv1\\.[23]$")) and .tls.verified == true
     and .tls.chain_verified == true and .tls.hostname_verified == true'
  jcheck "${f}" "tls_capabilities without STARTTLS (RFC 3207)" \
    '[.tls_capabilities.extensions[].keyword | ascii_upcase] | index(["STARTTLS"]) == null'
  jcheck "${f}" "relay verdict closed, not open" '.relay.verdict == "closed" and .relay.open == false'
  jcheck "${f}" "relay: the 6 basic variants ran" \
    '[.relay.attempts[].variant]
     == ["null_sender", "external", "spoof_local_name", "percent_name", "source_route_name", "bang_name"]'
  jcheck "${f}" "relay: nothing accepted (no 2yz at RCPT)" \
    'all(.relay.attempts[]; (.rcpt_code // 0) < 200 or (.rcpt_code // 0) >= 300)'
  jcheck "${f}" "relay: every basic variant refused with 550 Relaying denied" \
    'all(.relay.attempts[]; .rcpt_code == 550 and .outcome == "refused")'
  jcheck "${f}" "catch_all false (a random local part at mx.test: 550 User unknown)" '.relay.catch_all == false'
  jcheck "${f}" "catch_all_checks: mx.test asked and refused" \
    'any(.relay.catch_all_checks[]; .domain == "mx.test" and .accepted == false and .rcpt_code >= 500)'
  jcheck "${f}" "relay.reconnects 0" '.relay.reconnects == 0'
  check "closed_basic: outcomes and verdict follow from Sendmail's replies (catch-all false)" \
    outcomes_follow closed_basic false
  relay_common_checks "${f}"
fi
check "closed_basic: Sendmail said Relaying denied" \
  grep -q '>>> 550 5.7.1 .*Relaying denied' "${top}/closed_basic.traffic"
truth_checks closed_basic
session_checks closed_basic

section "closed instance, every relay variant"
sm_probe closed_all 0 "${top}/closed" "${closed}" "${common[@]}" --relay-test --relay-variants all \
  "${tls_ok[@]}" --output json
f=${top}/closed_all.out
if is_json closed_all; then
  jcheck "${f}" "relay verdict closed, healthy" \
    '.relay.verdict == "closed" and .relay.open == false and .healthy == true'
  jcheck "${f}" "at least 16 variants, names unique" \
    '(.relay.attempts | length) >= 16 and ([.relay.attempts[].variant] | length == (unique | length))'
  jcheck "${f}" "every variant refused (Sendmail never accepted one)" 'all(.relay.attempts[]; .outcome == "refused")'
  # What Sendmail 8.17 answers with its default rulesets (from this config; its traffic log
  # says the same).
  expect_attempts "${f}" closed_all null_sender=refused:550 external=refused:550 \
    spoof_local_name=refused:550 percent_ip=refused:550 percent_name=refused:550 \
    quoted=refused:550 quoted_percent=refused:550 double_at_ip=refused:553 double_at_name=refused:553 \
    quoted_at_ip=refused:550 source_route_ip=refused:550 source_route_name=refused:550 \
    bang=refused:550 bang_ip=refused:550 bang_name=refused:550
  jcheck "${f}" "closed_all: spoof_local_ip refused at MAIL with 553 (real domain name required)" \
    '.relay.attempts[] | select(.variant == "spoof_local_ip") | .mail_code == 553 and .outcome == "refused"'
  jcheck "${f}" "catch_all false" '.relay.catch_all == false'
  check "closed_all: outcomes and verdict follow from Sendmail's replies (catch-all false)" \
    outcomes_follow closed_all false
  jcheck "${f}" "relay.reconnects 0 (Sendmail does not hang up on bad addresses)" '.relay.reconnects == 0'
  relay_common_checks "${f}"
fi
truth_checks closed_all
session_checks closed_all

section "closed instance, text output"
sm_probe closed_text 0 "${top}/closed" "${closed}" "${common[@]}" --relay-test "${tls_ok[@]}" --output text
cat "${top}/closed_text.cmd" "${top}/closed_text.out"
check "closed_text: shows the Sendmail banner" grep -q "220 mx.test ESMTP Sendmail ${sm_ver}/" "${top}/closed_text.out"
check "closed_text: shows Sendmail's relay refusal" grep -q "Relaying denied" "${top}/closed_text.out"
session_checks closed_text

section "closed instance, no CA: opportunistic STARTTLS reports the failed verification"
sm_probe closed_noca 0 "${top}/closed" "${closed}" "${common[@]}" --server-name mx.test --output json
f=${top}/closed_noca.out
if is_json closed_noca; then
  jcheck "${f}" "success, starttls success, chain not verified, verified false" \
    '.success == true and .starttls.success == true and .tls.chain_verified == false and .tls.verified == false'
fi
session_checks closed_noca

section "closed instance, implicit TLS (DaemonPortOptions M=s, 127.0.0.1:${smtps_port})"
sm_probe closed_smtps 0 "${top}/closed" "127.0.0.1:${smtps_port}" "${common[@]}" --implicit-tls \
  "${tls_ok[@]}" --relay-test --output json
f=${top}/closed_smtps.out
if is_json closed_smtps; then
  greeting_checks "${f}"
  jcheck "${f}" "implicit TLS: success, verified" '.success == true and .implicit_tls == true and .tls.verified == true'
  jcheck "${f}" "implicit TLS: no STARTTLS sent" \
    'all(.transcript[]; (.direction != "C") or ((.text | test("^STARTTLS"; "i")) | not))'
  jcheck "${f}" "implicit TLS: relay closed" '.relay.verdict == "closed"'
  check "closed_smtps: outcomes and verdict follow from Sendmail's replies (catch-all false)" \
    outcomes_follow closed_smtps false
fi
check "closed_smtps: the session never saw a STARTTLS command (TLS from the first byte)" \
  absent "${top}/closed_smtps.traffic" '<<< STARTTLS'
truth_checks closed_smtps
session_checks closed_smtps

section "closed instance, greet_pause 2 s (127.0.0.1:${delay_port})"
sm_probe closed_delay 0 "${top}/closed" "127.0.0.1:${delay_port}" "${common[@]}" --starttls off --output json
f=${top}/closed_delay.out
if is_json closed_delay; then
  jcheck "${f}" "success" '.success == true'
  jcheck "${f}" "greeting step duration >= 2 s (and < 10 s)" \
    '.steps[] | select(.step == "greeting") | .duration_seconds >= 2 and .duration_seconds < 10'
  jcheck "${f}" "first server line at >= 2 s in the transcript" \
    '[.transcript[] | select(.direction == "S")][0].at_seconds >= 2'
  greeting_checks "${f}"
fi
check "closed_delay: Sendmail did not see the client talk first (no 554 'not accepting')" \
  absent "${top}/closed_delay.traffic" '>>> 554'
session_checks closed_delay

# ---------------------------------------------------------------------------------------------
section "open instance, basic relay variants (${open})"
sm_probe open_basic 1 "${top}/open" "${open}" "${common[@]}" --relay-test "${tls_ok[@]}" --output json
f=${top}/open_basic.out
if is_json open_basic; then
  greeting_checks "${f}"
  jcheck "${f}" "relay verdict open, healthy false, verdict UNHEALTHY" \
    '.relay.verdict == "open" and .relay.open == true and .healthy == false and (.verdict | test("^UNHEALTHY"))'
  jcheck "${f}" "catch_all false (unknown users at mx.test are still refused)" '.relay.catch_all == false'
  # percent_name and bang_name are hacks: they prove the relay because the catch-all is refused.
  expect_attempts "${f}" open_basic null_sender=accepted:250 external=accepted:250 \
    spoof_local_name=accepted:250 percent_name=accepted:250 source_route_name=accepted:250 \
    bang_name=accepted:250
  check "open_basic: outcomes and verdict follow from Sendmail's replies (catch-all false)" \
    outcomes_follow open_basic false
  jcheck "${f}" "the verdict names the open relay" '.verdict | test("^UNHEALTHY: open relay")'
  relay_common_checks "${f}"
fi
truth_checks open_basic
session_checks open_basic

section "open instance, every relay variant"
sm_probe open_all 1 "${top}/open" "${open}" "${common[@]}" --relay-test --relay-variants all \
  "${tls_ok[@]}" --output json
f=${top}/open_all.out
if is_json open_all; then
  jcheck "${f}" "relay verdict open" '.relay.verdict == "open" and .relay.open == true'
  jcheck "${f}" "at least 16 variants, names unique" \
    '(.relay.attempts | length) >= 16 and ([.relay.attempts[].variant] | length == (unique | length))'
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
  relay_common_checks "${f}"
fi
truth_checks open_all
session_checks open_all

# ---------------------------------------------------------------------------------------------
for flavour in closed open; do
  section "Sendmail's traffic log and queue, ${flavour} instance"
  dir=${top}/${flavour}
  check "${flavour}: no session ever sent DATA or BDAT" absent "${dir}/log/traffic" '<<< (DATA|BDAT)'
  check "${flavour}: the daemon wrote nothing to stdout/stderr" test ! -s "${dir}/log/daemon.out"
  n=$(sm_queue_files "${dir}" | wc -l)
  check "${flavour}: queue directory holds no files (${n})" test "${n}" -eq 0
done
