#!/usr/bin/env bash
# jq filters are single-quoted on purpose ($vars in them are jq variables):
# shellcheck disable=SC2016
# Real-MTA test of the user-enumeration step (`smtp_exporter probe --user-enumeration`, nmap's
# smtp-enum-users): VRFY and EXPN of postmaster and of a random name against servers started
# here on 127.0.0.1, and the RCPT method from the relay test's random local part:
#
#   postfix-vrfy     Postfix 3.7, VRFY on (its default, disable_vrfy_command = no)
#   postfix-novrfy   the same with disable_vrfy_command = yes
#   exim             Exim 4 (tests/mta/exim_instance.sh "closed"), VRFY/EXPN as Exim does them
#                    without acl_smtp_vrfy / acl_smtp_expn (its default configuration has none):
#                    "Administrative prohibition"
#   sendmail         Sendmail 8 (tests/mta/sendmail_instance.sh "closed") with Debian's default
#                    PrivacyOptions (VRFY and EXPN allowed after HELO), and with the instance's
#                    own goaway-like novrfy,noexpn
#
# Each verdict is asserted against what the server's reply codes say, and the codes are printed:
# the measured table servers x methods x result. Never DATA, always QUIT.
#
#   user_enumeration_test.sh /path/to/smtp_exporter
# Exit: 0 passed, 1 failed, 77 skipped (not root, or an MTA missing).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=mta_lib.sh
source "${here}/mta_lib.sh"
mta_begin user_enumeration "$@"
# shellcheck source-path=SCRIPTDIR source=../integration/postfix_instance.sh
source "${here}/../integration/postfix_instance.sh"
# shellcheck source-path=SCRIPTDIR source=exim_instance.sh
source "${here}/exim_instance.sh"
# shellcheck source-path=SCRIPTDIR source=sendmail_instance.sh
source "${here}/sendmail_instance.sh"
mta_need exim4-daemon-light sendmail-bin sendmail-cf
command -v postfix >/dev/null 2>&1 || mta_skip "postfix is not installed"
mta_on_exit pf_stop_all
mta_on_exit ex_stop_all
mta_on_exit sm_stop_all
mta_make_ca "${top}/ca"

table=()
# enum_run NAME SERVER TARGET ARGS...: one probe with --user-enumeration, JSON; records the table.
enum_run() {
  local name=$1 server=$2 target=$3 f row
  shift 3
  probe "${name}" 0 "${target}" --no-reverse-dns "${mta_tls[@]}" --user-enumeration \
    --output json "$@"
  f=${top}/${name}.out
  while IFS= read -r row; do table+=("$(printf '%-16s %s' "${server}" "${row}")"); done < <(
    jq -r '.user_enumeration[] | "\(.method)  \(.result)  (postmaster \(.name_code), random \(.random_code))"' "${f}")
  transcript_quit_no_data "${f}" "${name}"
}
# expect NAME METHOD RESULT: the probe NAME judged METHOD as RESULT.
expect() {
  jcheck "${top}/$1.out" "$1: $2 is $3" \
    'any(.user_enumeration[]; .method == $m and .result == $r)' --arg m "$2" --arg r "$3"
}
# finding NAME yes|no METHOD: whether the verdict lists an enumeration finding for METHOD.
finding() {
  local want=true
  [[ $2 == no ]] && want=false
  jcheck "${top}/$1.out" "$1: finding for $3: $2" \
    '(any(.findings[]; startswith("users can be enumerated with " + $m))) == ($w == "true")' \
    --arg m "$3" --arg w "${want}"
}

section "Postfix: disable_vrfy_command off (default) and on"
read -r pf_port pf_novrfy_port <<<"$(mta_free_ports 2)"
pf_create "${top}/pf" closed "${pf_port}" "${top}/ca"
pf_start "${top}/pf"
pf_create "${top}/pf-novrfy" closed "${pf_novrfy_port}" "${top}/ca"
postconf -c "${top}/pf-novrfy/etc" -e disable_vrfy_command=yes
pf_start "${top}/pf-novrfy"
enum_run pf_vrfy postfix-vrfy "127.0.0.1:${pf_port}" --relay-test
expect pf_vrfy vrfy exposed
expect pf_vrfy expn not_exposed
jcheck "${top}/pf_vrfy.out" "postfix VRFY postmaster 252, random 550 (told apart)" \
  'any(.user_enumeration[]; .method == "vrfy" and .name_code == 252 and .random_code == 550)'
finding pf_vrfy yes VRFY
finding pf_vrfy yes RCPT
enum_run pf_novrfy postfix-novrfy "127.0.0.1:${pf_novrfy_port}"
expect pf_novrfy vrfy not_exposed
expect pf_novrfy expn not_exposed
jcheck "${top}/pf_novrfy.out" "postfix with disable_vrfy_command: VRFY 502" \
  'any(.user_enumeration[]; .method == "vrfy" and .name_code == 502 and .random_code == 502)'
finding pf_novrfy no VRFY

section "Exim (no acl_smtp_vrfy / acl_smtp_expn)"
ex_users
ex_port=$(mta_free_port)
ex_create "${top}/exim" closed "${ex_port}" "${top}/ca"
ex_start "${top}/exim"
enum_run exim exim "127.0.0.1:${ex_port}"
# VRFY postmaster 252 "Administrative prohibition", a bare random name 501 (no domain): nothing
# said about the user. EXPN: 550 "Administrative prohibition" for both.
expect exim vrfy inconclusive
expect exim expn not_exposed
finding exim no VRFY

section "Sendmail: Debian's default PrivacyOptions, and novrfy,noexpn"
sm_users
read -r sm_port sm_novrfy_port <<<"$(mta_free_ports 2)"
sm_create "${top}/sm" closed "${sm_port}" "${top}/ca"
# Debian's sendmail.mc default (needmailhelo,needexpnhelo,needvrfyhelo,...): VRFY and EXPN
# answer after HELO/EHLO.
sed -i 's/^O PrivacyOptions=.*/O PrivacyOptions=needmailhelo,needexpnhelo,needvrfyhelo,restrictqrun,restrictexpand,nobodyreturn,authwarnings/' \
  "${top}/sm/sendmail.cf"
sm_start "${top}/sm"
sm_create "${top}/sm-novrfy" closed "${sm_novrfy_port}" "${top}/ca"
sm_start "${top}/sm-novrfy"
enum_run sendmail sendmail "127.0.0.1:${sm_port}"
expect sendmail vrfy exposed
finding sendmail yes VRFY
enum_run sendmail_novrfy sendmail-novrfy "127.0.0.1:${sm_novrfy_port}"
expect sendmail_novrfy vrfy not_exposed
expect sendmail_novrfy expn not_exposed
finding sendmail_novrfy no VRFY

section "measured: servers x methods x result"
printf '%s\n' "${table[@]}"
