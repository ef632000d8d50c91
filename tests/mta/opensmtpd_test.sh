#!/usr/bin/env bash
# jq filters are single-quoted on purpose ($vars in them are jq variables):
# shellcheck disable=SC2016
# Real-MTA test: `smtp_exporter probe` against OpenSMTPD 6.8 (Debian 12's package, unpacked by
# scripts/fetch-test-mtas) on 127.0.0.1, with the truth taken from the server itself.
#
#   opensmtpd_test.sh /path/to/smtp_exporter
#
# Four throwaway instances, one after the other (see opensmtpd_instance.sh):
#   closed      mx.test with a table of known users, relaying refused
#   open        match from any for any action relay
#   tls-closed  closed + STARTTLS with the test CA's mx.test certificate
#   tls-open    open   + STARTTLS
# Debian 12's OpenSMTPD 6.8 with OpenSSL 3 answers 220 to STARTTLS and then aborts the handshake
# (its privsep RSA/ECDSA engine cannot sign: "missing private key", TLS alert 80 internal_error).
# With opportunistic STARTTLS (the default) the prober must record STARTTLS as offered and failed,
# reconnect in plaintext within the same deadline and carry on, so the open relay behind the
# broken STARTTLS is found and the closed one is UP; with --starttls required the probe fails
# with reason tls.
#
# Every probe's JSON is checked against smtpd's own log (-v -T smtp traces each command and
# reply): the RCPT codes, the catch-all answer, the EHLO keywords and the client's commands must
# be what the server saw and said, and each verdict must follow from them and from the config.
# Then the server's side: no DATA/BDAT ever, every session ended with QUIT (except the broken TLS
# handshakes), nothing queued (smtpctl, the spool folders), nothing delivered or relayed.
#
# Exit: 0 all assertions passed, 1 one failed ("FAIL - ..."), 77 skipped (not root, or the
# opensmtpd package not unpacked: scripts/fetch-test-mtas opensmtpd).
# Only loopback traffic: IP literals, --no-reverse-dns, no DNS by smtpd (PTR from /etc/hosts).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=mta_lib.sh
source "${here}/mta_lib.sh"
# shellcheck source-path=SCRIPTDIR source=opensmtpd_instance.sh
source "${here}/opensmtpd_instance.sh"

mta_begin opensmtpd "$@"
for tool in unshare nsenter setpriv awk; do
  command -v "${tool}" >/dev/null 2>&1 || {
    echo "FAIL - required tool '${tool}' is not installed" >&2
    exit 1
  }
done
# Hooks run last registered first: stop the servers, then the DNS sink.
mta_on_exit 'osd_dns_sink_stop'
mta_on_exit 'osd_stop_all'
mta_need opensmtpd
osd_init || {
  fail "cannot run OpenSMTPD in a mount namespace of its own (see above)"
  exit 1
}

section "setting up"
echo "OpenSMTPD ${OSD_VERSION} from ${OSD_ROOT} ($(<"${OSD_ROOT}/.unpacked"));" \
  "binary under test: ${bin}; temp dir ${top}"
mta_make_ca "${top}/ca"
ca=${top}/ca/ca.pem
srv=mx.test
common=(--timeout 20s --no-reverse-dns)
tls_args=(--ca-file "${ca}" --server-name "${srv}")
test_started=${SECONDS}
dns_sink_log=${top}/dns-sink.log
dns_sink=no
# "lookup file" already keeps smtpd off DNS; the sink proves it (when 53 is free to bind).
if osd_dns_sink_start "${dns_sink_log}"; then dns_sink=yes; fi

# ---------------------------------------------------------------------------------------------
# The server's truth. Each probe's part of smtpd's log is cut out (${top}/NAME.smtpd.log) and
# turned into ${top}/NAME.truth.json:
#   {cmds: [every command smtpd received, in order], pairs: [{cmd, reply, code}] (the final reply
#    line to each command), banners: [the 220 greetings], ehlo: [EHLO keywords, upper case],
#    size: SIZE parameter or null, connects, quits, tls_errors}
log_lines() { wc -l <"$1/log/smtpd.log"; }

# slice DIR FROM_LINE SESSIONS NAME: waits (3 s at most) until smtpd logged SESSIONS disconnects
# after FROM_LINE, then writes NAME.smtpd.log and NAME.truth.json.
slice() {
  local dir=$1 from=$2 sessions=$3 name=$4 i n
  for ((i = 0; i < 30; i++)); do
    n=$(tail -n +"$((from + 1))" "${dir}/log/smtpd.log" | grep -c ' smtp disconnected ' || true)
    [[ ${n} -ge ${sessions} ]] && break
    sleep 0.1
  done
  tail -n +"$((from + 1))" "${dir}/log/smtpd.log" >"${top}/${name}.smtpd.log"
  awk '
    match($0, /^smtp: 0x[0-9a-f]+: <<< /) {
      c = substr($0, RLENGTH + 1); print "C\t" c
      pending = c; inehlo = (toupper(c) ~ /^EHLO /); first = 1; next
    }
    match($0, /^smtp: 0x[0-9a-f]+: >>> /) {
      r = substr($0, RLENGTH + 1)
      if (inehlo && r ~ /^250[- ]/) { if (!first) print "E\t" substr(r, 5); first = 0 }
      if (r ~ /^[0-9][0-9][0-9]( |$)/) {
        if (pending != "") print "P\t" pending "\t" r; else print "B\t" r
        pending = ""; inehlo = 0
      }
      next
    }
    / smtp connected / { print "N\tconnect" }
    / smtp disconnected reason=quit/ { print "N\tquit" }
    / smtp disconnected reason="io-error/ { print "N\ttls_error" }
  ' "${top}/${name}.smtpd.log" |
    jq -R -s '
      split("\n") | map(select(length > 0) | split("\t"))
      | { cmds: map(select(.[0] == "C") | .[1]),
          pairs: map(select(.[0] == "P") | {cmd: .[1], reply: .[2], code: (.[2][0:3] | tonumber)}),
          banners: map(select(.[0] == "B") | .[1]),
          ehlo: (map(select(.[0] == "E") | .[1] | split(" ")[0] | ascii_upcase) | unique),
          size: (map(select(.[0] == "E") | .[1] | select(test("^SIZE "; "i")) | split(" ")[1]
                     | tonumber) | first),
          connects: map(select(.[0] == "N" and .[1] == "connect")) | length,
          quits: map(select(.[0] == "N" and .[1] == "quit")) | length,
          tls_errors: map(select(.[0] == "N" and .[1] == "tls_error")) | length }
    ' >"${top}/${name}.truth.json"
}

# Helpers over the prober's JSON ($t = the truth of the same probe, $srv = the server's name),
# a jq module so that a failing check prints just its own filter.
cat >"${top}/osd.jq" <<'JQ'
def t: $t[0];
def rcpt_of: sub("^RCPT TO: ?"; ""; "i");
def log_rcpts: [t.pairs[] | select(.cmd | test("^RCPT TO:"; "i")) | {rcpt: (.cmd | rcpt_of), code}];
def log_catchall_rcpts: [log_rcpts[] | select(.rcpt | test("smtp-exporter-catch-all-"; "i"))];
# Did smtpd accept the random local part at its own name? (null: never asked)
def log_catch_all: [log_catchall_rcpts[] | select(.rcpt | ascii_downcase | endswith("@" + $srv + ">"))]
  | if length == 0 then null else any(.code >= 200 and .code < 300) end;
JQ
# tcheck NAME DESCRIPTION FILTER [jq args]: jcheck on NAME.out with the truth and the helpers.
tcheck() {
  local name=$1 desc=$2 filter=$3
  shift 3
  jcheck "${top}/${name}.out" "${name}: ${desc}" "include \"osd\"; ${filter}" -L "${top}" \
    --slurpfile t "${top}/${name}.truth.json" --arg srv "${srv}" "$@"
}
# lcheck NAME DESCRIPTION FILTER [jq args]: a check on NAME.truth.json (smtpd's side) alone.
lcheck() {
  local name=$1 desc=$2 filter=$3
  shift 3
  jcheck "${top}/${name}.truth.json" "${name}: ${desc}" "${filter}" "$@"
}

# run NAME DIR WANT_RC SESSIONS ARGS...: the probe, its part of smtpd's log, and the checks every
# probe gets: stdout is JSON, smtpd saw SESSIONS connections, the client commands in the
# transcript are exactly those smtpd received, no DATA/BDAT.
run() {
  local name=$1 dir=$2 want=$3 sessions=$4 mark
  shift 4
  mark=$(log_lines "${dir}")
  probe "${name}" "${want}" "$@"
  slice "${dir}" "${mark}" "${sessions}" "${name}"
  # The kit's view of the same lines (NAME.truth: MAIL/RCPT, address, code, reply).
  cp "${top}/${name}.smtpd.log" "${top}/${name}.serverlog"
  server_truth "${name}" '<<< ' '>>> '
  lcheck "${name}" "smtpd saw ${sessions} session(s) (saw $(jq .connects "${top}/${name}.truth.json"))" \
    '.connects == $n' --argjson n "${sessions}"
  lcheck "${name}" "smtpd received no DATA/BDAT" 'all(.cmds[]; test("^(DATA|BDAT)\\b"; "i") | not)'
  # Text runs are only checked here and by the caller; JSON runs get the transcript check.
  if [[ " $* " == *" --output json "* ]] && is_json "${name}"; then
    tcheck "${name}" "the transcript's client commands are exactly what smtpd received" \
      '[.transcript[] | select(.direction == "C") | .text] == t.cmds'
    tcheck "${name}" "transcript has no DATA/BDAT" \
      'all(.transcript[]; (.text | test("^(DATA|BDAT)\\b"; "i")) | not)'
  fi
}

# The checks of a probe whose EHLO worked: greeting and capabilities against the log.
greeting_checks() {
  local name=$1
  tcheck "${name}" "greeting: hostname mx.test, software OpenSMTPD (smtpd sent \"220 mx.test ESMTP OpenSMTPD\")" \
    '.greeting.hostname == $srv and .greeting.software == "OpenSMTPD"
     and (t.banners[0] == "220 mx.test ESMTP OpenSMTPD")'
  tcheck "${name}" "greeting.code is 220" '.greeting.code == 220'
  tcheck "${name}" "greeting.version is empty or null (the banner does not disclose it)" \
    '(.greeting.version // "") == ""'
  tcheck "${name}" "greeting.lines is the banner smtpd sent" \
    '(.greeting.lines | map(ltrimstr("220 ") | ltrimstr("220-")))
     == (t.banners[:1] | map(ltrimstr("220 ")))'
  tcheck "${name}" "esmtp is true" '.esmtp == true'
  tcheck "${name}" "capabilities are smtpd's EHLO keywords (${srv}, SIZE from the log)" \
    '.capabilities.domain == $srv
     and ([.capabilities.extensions[].keyword | ascii_upcase] | unique) == t.ehlo
     and .capabilities.size_limit == t.size'
}

# relay_checks NAME VERDICT CATCH_ALL VARIANT=OUTCOME:CODE...: a complete relay test (all 16
# variants) against smtpd's log and config. VERDICT and CATCH_ALL (does the config accept any
# local part at mx.test?) come from the config; each VARIANT=OUTCOME:CODE is what OpenSMTPD 6.8
# answers with that config (its log says the same: same_rcpt_codes).
relay_checks() {
  local name=$1 verdict=$2 catch_all=$3 f=${top}/$1.out
  shift 3
  tcheck "${name}" "relay ran 16 attempts (relay-variants all), none not_run" \
    '.relay.ran == true and (.relay.attempts | length) == 16
     and all(.relay.attempts[]; .outcome != "not_run")'
  tcheck "${name}" "relay.open is $([[ ${verdict} == open ]] && echo true || echo false) (config)" \
    '.relay.open == ($v == "open")' --arg v "${verdict}"
  tcheck "${name}" "relay.verdict is ${verdict} (config)" '.relay.verdict == $v' --arg v "${verdict}"
  check "${name}: RCPT codes (attempts and catch-all checks) are those in smtpd's log" \
    same_rcpt_codes "${name}"
  check "${name}: outcomes and relay.verdict follow from smtpd's codes (catch-all ${catch_all})" \
    outcomes_follow "${name}" "${catch_all}"
  expect_attempts "${f}" "${name}" "$@"
  tcheck "${name}" "relay.catch_all is ${catch_all} (config) and what smtpd answered (log)" \
    '.relay.catch_all == ($c == "true") and .relay.catch_all == log_catch_all' --arg c "${catch_all}"
  tcheck "${name}" "catch_all_checks: mx.test asked, accepted == (2yz), as many as in smtpd's log" \
    'any(.relay.catch_all_checks[]; .domain == $srv)
     and all(.relay.catch_all_checks[]; .accepted == (.rcpt_code >= 200 and .rcpt_code < 300))
     and (.relay.catch_all_checks | length) == (log_catchall_rcpts | length)'
  tcheck "${name}" "smtpd answered QUIT with 221 (log)" \
    'any(t.pairs[]; (.cmd | test("^QUIT$"; "i")) and .code == 221)'
  echo "--- ${name}: the kit's common relay checks (relay_common_checks)"
  relay_common_checks "${f}"
  truth_table "${name}"
}

# What OpenSMTPD 6.8 answers to the 16 variants (RCPT code), per config. Closed: only
# "for domain mx.test" matches; unknown local parts there fail the virtual table (524 5.2.4),
# anything else matches no rule (550 Invalid recipient); quoted local parts and two @ are a
# syntax error (501 5.1.3); source routes are stripped (550 for example.net); a bang path without
# @ is qualified with mx.test (524). Open: everything that parses is accepted (250).
closed_expect=(null_sender=refused:550 external=refused:550 spoof_local_name=refused:550
  spoof_local_ip=refused:550 percent_ip=refused:550 percent_name=refused:524
  quoted=refused:501 quoted_percent=refused:501 double_at_ip=refused:501
  double_at_name=refused:501 quoted_at_ip=refused:501 source_route_ip=refused:550
  source_route_name=refused:550 bang=refused:524 bang_ip=refused:550 bang_name=refused:524)
open_expect=(null_sender=accepted:250 external=accepted:250 spoof_local_name=accepted:250
  spoof_local_ip=accepted:250 percent_ip=catch_all:250 percent_name=catch_all:250
  quoted=refused:501 quoted_percent=refused:501 double_at_ip=refused:501
  double_at_name=refused:501 quoted_at_ip=refused:501 source_route_ip=accepted:250
  source_route_name=accepted:250 bang=catch_all:250 bang_ip=catch_all:250 bang_name=catch_all:250)

# The server's side, after the instance stopped. SESSIONS: connections made; TLS_FAILS: of
# them, how many ended in the broken handshake (no QUIT possible).
server_checks() {
  local label=$1 dir=$2 sessions=$3 tls_fails=$4 log n
  log=${dir}/log/smtpd.log
  section "smtpd's log and queue: ${label}"
  grep -E ' smtp (connected|disconnected|failed-command)|<<< (STARTTLS|QUIT)|SSL library error|^(warn|fatal):|^info: OpenSMTPD' \
    "${log}" | sed 's/^/  | /' || true
  n=$(grep -c ' smtp connected ' "${log}" || true)
  check "${label}: smtpd saw ${sessions} sessions (saw ${n})" test "${n}" -eq "${sessions}"
  n=$(grep -c ' smtp disconnected ' "${log}" || true)
  check "${label}: ${sessions} sessions ended (saw ${n})" test "${n}" -eq "${sessions}"
  n=$(grep -c ' smtp disconnected reason=quit' "${log}" || true)
  check "${label}: $((sessions - tls_fails)) ended with QUIT (saw ${n})" \
    test "${n}" -eq "$((sessions - tls_fails))"
  n=$(grep -c ' smtp disconnected reason="io-error' "${log}" || true)
  check "${label}: ${tls_fails} ended in the TLS handshake (saw ${n})" test "${n}" -eq "${tls_fails}"
  check "${label}: no session ended otherwise (timeout, client hang-up)" \
    absent "${log}" ' smtp disconnected reason=(timeout|disconnect)'
  check "${label}: smtpd received no DATA/BDAT" absent "${log}" '<<< (DATA|BDAT)\b'
  check "${label}: no message committed, delivered or relayed" \
    absent "${log}" ' smtp message msgid=| mda delivery | mta (connecting|connected|delivery) '
  check "${label}: no bad input, no fatal error" absent "${log}" ' smtp bad-input |^fatal|panic'
  n=$(osd_queue_files "${dir}" | wc -l)
  check "${label}: the spool holds no files (${n})" test "${n}" -eq 0
}

# While the instance runs: smtpctl's view of the queue (empty) and its session counter.
ctl_checks() {
  local label=$1 dir=$2 sessions=$3 stats
  check "${label}: smtpctl show queue is empty" test -z "$(osd_ctl "${dir}" show queue 2>&1)"
  stats=$(osd_ctl "${dir}" show stats 2>&1 || true)
  printf '%s\n' "${stats}" | grep -E '^(scheduler|smtp|queue)\.' | sed 's/^/  | smtpctl show stats: /'
  check "${label}: smtpctl stats: no envelope or message in the scheduler" \
    bash -c '! grep -E "^scheduler\.(envelope\.incoming|ramqueue\.(envelope|message))=[1-9]" <<<"$1" &&
             ! grep -E "^scheduler\.delivery" <<<"$1"' _ "${stats}"
  check "${label}: smtpctl stats: ${sessions} IPv4 sessions" \
    grep -qx "smtp.session.inet4=${sessions}" <<<"${stats}"
}

# new_instance FLAVOUR: creates and starts ${top}/FLAVOUR; sets d (its folder) and target.
new_instance() {
  local flavour=$1 port
  port=$(mta_free_port)
  d=${top}/${flavour}
  target=127.0.0.1:${port}
  osd_create "${d}" "${flavour}" "${port}" "${top}/ca"
  osd_start "${d}"
  sed 's/^/  | /' "${d}/etc/smtpd.conf"
}

# ---------------------------------------------------------------------------------------------
section "closed: mx.test with known users, no relaying (plaintext)"
new_instance closed
run closed_all "${d}" 0 1 "${target}" "${common[@]}" --relay-test --relay-variants all \
  --ehlo-name probe.example.org --output json
greeting_checks closed_all
tcheck closed_all "success, healthy, verdict UP, no failure" \
  '.success == true and .healthy == true and (.verdict | startswith("UP"))
   and .failed_step == null and (.failure_reason // "") == ""'
tcheck closed_all "starttls not offered, no TLS" '.starttls.offered == false and .tls == null'
tcheck closed_all "starttls: success null (not attempted), plaintext_fallback false, error empty" \
  '.starttls.success == null and .starttls.plaintext_fallback == false and .starttls.error == ""'
tcheck closed_all "smtpd saw EHLO probe.example.org" 't.cmds[0] == "EHLO probe.example.org"'
relay_checks closed_all closed false "${closed_expect[@]}"
tcheck closed_all "no reconnects (OpenSMTPD never hangs up on errors)" '.relay.reconnects == 0'

run closed_text "${d}" 0 1 "${target}" "${common[@]}" --relay-test --output text
cat "${top}/closed_text.cmd" "${top}/closed_text.out" | sed 's/^/  > /'
check "closed_text: shows the greeting" grep -q "220 mx.test ESMTP OpenSMTPD" "${top}/closed_text.out"
check "closed_text: shows a refusal from smtpd's log" \
  grep -qF "$(grep -m1 -oE '>>> 5[0-9][0-9] .*' "${top}/closed_text.smtpd.log" | cut -c5-)" \
  "${top}/closed_text.out"
check "closed_text: shows QUIT" grep -q "QUIT" "${top}/closed_text.out"
check "closed_text: no DATA/BDAT command" absent "${top}/closed_text.out" '\b(DATA|BDAT) *$'
ctl_checks closed "${d}" 2
osd_stop "${d}"
server_checks closed "${d}" 2 0

# ---------------------------------------------------------------------------------------------
section "open: match from any for any action relay (plaintext)"
new_instance open
run open_all "${d}" 1 1 "${target}" "${common[@]}" --relay-test --relay-variants all --output json
greeting_checks open_all
tcheck open_all "success true (every step worked), healthy false, verdict UNHEALTHY ... open relay" \
  '.success == true and .healthy == false and (.verdict | test("^UNHEALTHY: open relay"))
   and .failed_step == null'
tcheck open_all "starttls not offered, no TLS" '.starttls.offered == false and .tls == null'
tcheck open_all "starttls: success null, plaintext_fallback false" \
  '.starttls.success == null and .starttls.plaintext_fallback == false'
relay_checks open_all open true "${open_expect[@]}"
tcheck open_all "open is proven by a foreign recipient as written (non-hack accepted)" \
  'any(.relay.attempts[]; .hack == false and .outcome == "accepted")'
tcheck open_all "no reconnects" '.relay.reconnects == 0'

run open_norelay "${d}" 0 1 "${target}" "${common[@]}" --output json
tcheck open_norelay "without --relay-test: success, healthy, relay not run, smtpd got no MAIL/RCPT" \
  '.success == true and .healthy == true and .relay.ran == false and .relay.open == false
   and all(t.cmds[]; test("^(MAIL|RCPT)"; "i") | not)'
tcheck open_norelay "verdict UP, relay.verdict not_tested" \
  '(.verdict | startswith("UP")) and .relay.verdict == "not_tested"'
ctl_checks open "${d}" 2
osd_stop "${d}"
server_checks open "${d}" 2 0

# ---------------------------------------------------------------------------------------------
# tls_instance FLAVOUR VERDICT CATCH_ALL OPP_RC: the broken-STARTTLS checks for one flavour.
tls_instance() {
  local flavour=$1 verdict=$2 catch_all=$3 opp_rc=$4 name sessions=0 fails=0 mark rc expect
  if [[ ${verdict} == open ]]; then expect=("${open_expect[@]}"); else expect=("${closed_expect[@]}"); fi
  local p=${flavour//-/}
  section "${flavour}: ${flavour#tls-} config + listen ... tls pki mx.test (broken STARTTLS)"
  new_instance "${flavour}"

  # What the server does at the handshake, seen by openssl s_client and in smtpd's log.
  name=${p}_s_client
  mark=$(log_lines "${d}")
  rc=0
  timeout 20 openssl s_client -starttls smtp -name probe.example.org \
    -connect "${target}" -servername "${srv}" -CAfile "${ca}" </dev/null \
    >"${top}/${name}.out" 2>&1 || rc=$?
  sessions=$((sessions + 1)) fails=$((fails + 1))
  slice "${d}" "${mark}" 1 "${name}"
  echo "--- openssl s_client -starttls smtp (exit ${rc}):"
  grep -E 'CONNECTED|depth=|verify|alert|error|^New,|handshake has|Cipher is' "${top}/${name}.out" |
    sed 's/^/  > /'
  echo "--- smtpd's log of that session:"
  grep -E '<<<|>>> 220|SSL|disconnected' "${top}/${name}.smtpd.log" | sed 's/^/  | /'
  check "${name}: the handshake fails for openssl s_client too (exit ${rc})" test "${rc}" -ne 0
  check "${name}: the client got TLS alert 80 (internal error)" \
    grep -qE 'alert internal error|alert number 80' "${top}/${name}.out"
  lcheck "${name}" "smtpd answered 220 to STARTTLS" 'any(.pairs[]; .cmd == "STARTTLS" and .code == 220)'
  check "${name}: smtpd's handshake died (SSL error, io-error disconnect)" \
    grep -qE 'smtp disconnected reason="io-error' "${top}/${name}.smtpd.log"

  # Opportunistic (the default): fallback to plaintext, relay test, verdict from the config.
  name=${p}_opportunistic
  run "${name}" "${d}" "${opp_rc}" 2 "${target}" "${common[@]}" "${tls_args[@]}" \
    --relay-test --relay-variants all --output json
  sessions=$((sessions + 2)) fails=$((fails + 1))
  greeting_checks "${name}"
  tcheck "${name}" "success true (opportunistic), failed_step null" \
    '.success == true and .failed_step == null and (.failure_reason // "") == ""'
  tcheck "${name}" "healthy is $([[ ${verdict} == open ]] && echo false || echo true) (relay ${verdict})" \
    '.healthy == ($v != "open")
     and (.verdict | if $v == "open" then test("^UNHEALTHY: open relay") else startswith("UP") end)' \
    --arg v "${verdict}"
  tcheck "${name}" "starttls offered, not successful, plaintext_fallback true, error set" \
    '.starttls.offered == true and .starttls.success == false
     and .starttls.plaintext_fallback == true
     and (.starttls.error | type) == "string" and (.starttls.error | length) > 0'
  tcheck "${name}" "starttls.error names the handshake failure" \
    '.starttls.error | test("alert|handshake|internal error|tls"; "i")'
  tcheck "${name}" "no TLS session reported as established" '.tls == null or .tls.handshake_ok == false'
  tcheck "${name}" "smtpd: one STARTTLS (220), its session died in TLS, the second ended with QUIT" \
    '([t.pairs[] | select(.cmd == "STARTTLS")] | length == 1 and .[0].code == 220)
     and t.tls_errors == 1 and t.quits == 1 and (t.banners | length) == 2'
  tcheck "${name}" "after the fallback: EHLO again, no second STARTTLS, relay test, QUIT" \
    '(t.cmds | index("STARTTLS")) as $i
     | (t.cmds[$i + 1:] | .[0] | test("^EHLO "; "i"))
       and (t.cmds[$i + 1:] | index("STARTTLS") == null)
       and (t.cmds[$i + 1:] | any(test("^RCPT TO:"; "i")))
       and (t.cmds | last | test("^QUIT$"; "i"))'
  tcheck "${name}" "transcript shows STARTTLS, its 220 and the second greeting" \
    'any(.transcript[]; .direction == "C" and .text == "STARTTLS")
     and ([.transcript[] | select(.direction == "S" and (.text | startswith("220 mx.test ESMTP")))]
          | length) == 2'
  relay_checks "${name}" "${verdict}" "${catch_all}" "${expect[@]}"
  echo "info - ${name}: relay.reconnects=$(jq -c '.relay.reconnects' "${top}/${name}.out" 2>/dev/null)," \
    "starttls.error=$(jq -c '.starttls.error' "${top}/${name}.out" 2>/dev/null)"

  # Required: the probe fails on TLS and does not fall back.
  name=${p}_required
  run "${name}" "${d}" 1 1 "${target}" "${common[@]}" "${tls_args[@]}" --starttls required \
    --relay-test --output json
  sessions=$((sessions + 1)) fails=$((fails + 1))
  tcheck "${name}" "success false, healthy false, failure_reason tls, failed_step starttls" \
    '.success == false and .healthy == false and .failure_reason == "tls"
     and .failed_step == "starttls" and (.verdict | startswith("DOWN"))'
  tcheck "${name}" "starttls offered, not successful" \
    '.starttls.offered == true and .starttls.success == false'
  tcheck "${name}" "starttls: no plaintext fallback, error set" \
    '.starttls.plaintext_fallback == false and (.starttls.error | length) > 0'
  tcheck "${name}" "no relay test; smtpd: one session, died in TLS, no MAIL/RCPT" \
    '.relay.ran == false and .relay.open == false
     and all(t.cmds[]; test("^(MAIL|RCPT)"; "i") | not) and t.connects == 1 and t.tls_errors == 1'
  tcheck "${name}" "relay.verdict is not_tested" '.relay.verdict == "not_tested"'

  # Off: STARTTLS offered but never tried; the plaintext session is all there is.
  name=${p}_off
  run "${name}" "${d}" "${opp_rc}" 1 "${target}" "${common[@]}" --starttls off --relay-test \
    --output json
  sessions=$((sessions + 1))
  tcheck "${name}" "starttls offered, not attempted (smtpd got no STARTTLS), no TLS, success" \
    '.starttls.offered == true and (.starttls.success // false) == false and .tls == null
     and (t.cmds | index("STARTTLS") == null) and .success == true'
  tcheck "${name}" "starttls: success null, plaintext_fallback false" \
    '.starttls.success == null and .starttls.plaintext_fallback == false'
  tcheck "${name}" "relay.open is $([[ ${verdict} == open ]] && echo true || echo false), verdict ${verdict}" \
    '.relay.open == ($v == "open") and .relay.verdict == $v' --arg v "${verdict}"

  # Text output of the opportunistic probe, for the record.
  name=${p}_text
  run "${name}" "${d}" "${opp_rc}" 2 "${target}" "${common[@]}" "${tls_args[@]}" --relay-test \
    --output text
  sessions=$((sessions + 2)) fails=$((fails + 1))
  cat "${top}/${name}.cmd" "${top}/${name}.out" | sed 's/^/  > /'
  check "${name}: shows STARTTLS and a second greeting" \
    bash -c 'grep -q "STARTTLS" "$1" && [[ $(grep -c "220 mx.test ESMTP OpenSMTPD" "$1") -ge 2 ]]' \
    _ "${top}/${name}.out"

  ctl_checks "${flavour}" "${d}" "${sessions}"
  osd_stop "${d}"
  server_checks "${flavour}" "${d}" "${sessions}" "${fails}"
  check "${flavour}: smtpd logged the failing signature (missing private key) for each handshake" \
    test "$(grep -c 'missing private key' "${d}/log/smtpd.log")" -eq "${fails}"
}
tls_instance tls-closed closed false 0
tls_instance tls-open open true 1

section "no DNS by smtpd"
if [[ "${dns_sink}" == yes ]]; then
  osd_dns_sink_stop
  check "smtpd sent no DNS query (sink on ${OSD_DNS_SINK_ADDR}:53: $(grep -vc '^#' "${dns_sink_log}" || true) queries)" \
    absent "${dns_sink_log}" '^[^#]'
  check "smtpd resolved the client from /etc/hosts (host=localhost in every session)" \
    bash -c '! grep -h " smtp connected " "$@" | grep -v " host=localhost$"' _ "${top}"/*/log/smtpd.log
else
  echo "info - no DNS sink (${OSD_DNS_SINK_ADDR}:53 could not be bound); smtpd's resolv.conf says \"lookup file\""
fi

section "runtime"
echo "$((SECONDS - test_started)) s for all instances and probes"
