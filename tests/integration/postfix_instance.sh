#!/usr/bin/env bash
# Throwaway Postfix instances for the integration tests.
#
# Each instance lives entirely in its own directory (config, queue, data, log, TLS files), listens
# on 127.0.0.1:<port> only, does no DNS lookups and can never deliver anything: every transport is
# "discard" and DATA is refused by smtpd_data_restrictions. The system Postfix (/etc/postfix,
# /var/spool/postfix) is neither read for the instance's settings nor touched.
#
# Three flavours:
#   closed    a normal MX: STARTTLS with a certificate for mx.test signed by a test CA,
#             relaying refused (127.0.0.1 is NOT in mynetworks; reject_unauth_destination).
#   open      an open relay: mynetworks trusts 127.0.0.0/8, so the prober may relay (also offers
#             STARTTLS; its banner discloses the Postfix version).
#   catchall  like closed (relaying refused, STARTTLS), but a catch-all for its own domain:
#             virtual_alias_maps maps @mx.test to postmaster, so ANY local part at mx.test is
#             accepted at RCPT (as accept-then-bounce MXs do). It also logs its SMTP dialogue
#             with 127.0.0.1 (debug_peer_list: "< peer: COMMAND" and "> peer: REPLY" lines), so
#             a test can read every reply the server gave from the server's own log.
#
# Use as a library (source it; the caller owns the EXIT trap and calls pf_stop_all):
#   source postfix_instance.sh
#   pf_make_ca DIR                 -> DIR/ca.pem, DIR/mx.test.pem, DIR/mx.test.key
#   pf_free_port                   -> prints a free TCP port on 127.0.0.1
#   pf_create DIR FLAVOUR PORT CERTDIR [SMTPS_PORT]
#   pf_start DIR                   -> starts "postfix -c DIR/etc start-fg" in the background,
#                                     waits until 127.0.0.1:PORT listens
#   pf_stop DIR / pf_stop_all
#   pf_queue_files DIR             -> prints every file in the instance's mail queues
#   pf_log DIR                     -> prints the instance's maillog
#
# Or standalone, for manual poking (Ctrl-C stops and removes the instance):
#   postfix_instance.sh closed|open|catchall [PORT]
#
# Requirements: postfix (3.3+ for start-fg, 3.4+ for maillog_file), openssl, ss (iproute2).
# Must run as root (Postfix's master runs as root and drops to the "postfix" user).
# As root, "postfix -c DIR" needs no alternate_config_directories / multi_instance_directories
# entry in the system main.cf (that check applies to unprivileged callers of set-gid commands),
# and it works when the package was installed with "No configuration" (no /etc/postfix/main.cf).
# Notes: pf_create makes DIR's parent 0755 (the postfix user must reach DIR); call pf_start in
# the main shell, not in $(...), so that pf_stop can wait for the master.

PF_INSTANCES=()

pf_log_msg() { printf '[postfix_instance] %s\n' "$*" >&2; }

# Prints a TCP port that nothing listens on at the moment, below the kernel's ephemeral range so
# that outgoing connections do not grab it meanwhile (a race with other listeners remains;
# pf_start fails loudly if the port turns out to be taken).
pf_free_port() {
  local port tries=0 low=32768 span
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  ((low > 12000)) || low=32768
  span=$((low - 10000))
  while ((tries++ < 200)); do
    port=$((10000 + RANDOM % span))
    if ! ss -Hltn "sport = :${port}" | grep -q .; then
      printf '%s\n' "${port}"
      return 0
    fi
  done
  pf_log_msg "no free port found"
  return 1
}

# A test CA and a server certificate for mx.test (CN and SAN), signed by it.
pf_make_ca() {
  local dir=$1
  mkdir -p "${dir}"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -sha256 \
    -keyout "${dir}/ca.key" -out "${dir}/ca.pem" \
    -subj "/O=smtp_exporter integration test/CN=smtp_exporter test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -new -newkey rsa:2048 -nodes -sha256 \
    -keyout "${dir}/mx.test.key" -out "${dir}/mx.test.csr" \
    -subj "/O=smtp_exporter integration test/CN=mx.test" 2>/dev/null
  cat >"${dir}/mx.test.ext" <<'EOF'
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:mx.test
EOF
  openssl x509 -req -in "${dir}/mx.test.csr" -CA "${dir}/ca.pem" -CAkey "${dir}/ca.key" \
    -CAcreateserial -days 30 -sha256 -extfile "${dir}/mx.test.ext" \
    -out "${dir}/mx.test.pem" 2>/dev/null
  chmod 600 "${dir}/ca.key" "${dir}/mx.test.key"
  openssl verify -CAfile "${dir}/ca.pem" "${dir}/mx.test.pem" >/dev/null
}

# pf_create DIR FLAVOUR PORT CERTDIR [SMTPS_PORT]
# With SMTPS_PORT, a second smtpd listens there with implicit TLS (wrapper mode, like port 465).
pf_create() {
  local dir=$1 flavour=$2 port=$3 certdir=$4 smtps_port=${5:-}
  local etc=${dir}/etc
  case "${flavour}" in
    closed | open | catchall) ;;
    *)
      pf_log_msg "unknown flavour ${flavour} (closed|open|catchall)"
      return 2
      ;;
  esac
  mkdir -p "${etc}" "${dir}/spool" "${dir}/data" "${dir}/log"
  # Postfix daemons (and the master, for some files) run as the unprivileged "postfix" user and
  # must be able to reach their directories; mktemp -d makes 0700 directories, so the parent
  # (the caller's temp dir) is opened up too.
  chmod 755 "$(dirname "${dir}")" "${dir}" "${etc}" "${dir}/spool" "${dir}/log"
  chown postfix:postfix "${dir}/data"
  chmod 700 "${dir}/data"
  cp "${certdir}/mx.test.pem" "${certdir}/mx.test.key" "${certdir}/ca.pem" "${etc}/"
  chmod 600 "${etc}/mx.test.key"

  # Settings shared by both flavours. Everything that could make the instance look outward is
  # disabled: no DNS (disable_dns_lookups is obsolete since 3.0; smtp_dns_support_level replaces
  # it), no reverse lookup of clients, every transport discards.
  cat >"${etc}/main.cf" <<EOF
# Generated by tests/integration/postfix_instance.sh (flavour ${flavour}); throwaway.
compatibility_level = 3.6
config_directory = ${etc}
queue_directory = ${dir}/spool
data_directory = ${dir}/data
# Keep everything in this instance; no multi-instance bookkeeping in the system config.
multi_instance_enable = no
multi_instance_name = smtp-exporter-test-${flavour}
syslog_name = postfix-test-${flavour}
maillog_file = ${dir}/log/maillog
maillog_file_prefixes = ${dir}/log
maillog_file_rotate_suffix = %Y%m%d-%H%M%S

inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.test
mydomain = mx.test
myorigin = mx.test
mydestination = mx.test
relay_domains =
relayhost =

# No DNS, anywhere.
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtp_host_lookup = native
smtpd_peername_lookup = no
smtpd_client_restrictions =
smtpd_helo_restrictions =
smtpd_sender_restrictions =

# Never deliver: everything that ever got queued would be thrown away.
default_transport = discard:integration test instance never delivers
relay_transport = discard:integration test instance never delivers
local_transport = discard:integration test instance never delivers
virtual_transport = discard:integration test instance never delivers
fallback_transport =
mailbox_transport =
alias_maps =
alias_database =
local_recipient_maps = inline:{ postmaster=ok }
# Belt and braces: the prober must never send DATA/BDAT; should it, Postfix refuses.
smtpd_data_restrictions = reject
biff = no
append_dot_mydomain = no
readme_directory = no
html_directory = no

# Session behaviour that keeps a test fast and deterministic.
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
smtpd_hard_error_limit = 100
smtpd_junk_command_limit = 1000
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
smtpd_client_event_limit_exceptions = 127.0.0.1
smtpd_delay_reject = yes
smtpd_tls_loglevel = 1
EOF

  if [[ "${flavour}" == closed ]]; then
    cat >>"${etc}/main.cf" <<EOF

# --- closed relay: a normal MX with STARTTLS ---
smtpd_banner = \$myhostname ESMTP \$mail_name
smtpd_tls_security_level = may
smtpd_tls_chain_files = ${etc}/mx.test.key, ${etc}/mx.test.pem
smtpd_tls_received_header = no
# 127.0.0.1 must NOT be trusted, or permit_mynetworks would let the prober relay.
# 192.0.2.0/24 is TEST-NET-1 (RFC 5737): nothing real lives there.
mynetworks = 192.0.2.1/32
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
EOF
  elif [[ "${flavour}" == catchall ]]; then
    cat >>"${etc}/main.cf" <<EOF

# --- closed relay that accepts ANY local part at its own domain (catch-all) ---
smtpd_banner = \$myhostname ESMTP \$mail_name
smtpd_tls_security_level = may
smtpd_tls_chain_files = ${etc}/mx.test.key, ${etc}/mx.test.pem
smtpd_tls_received_header = no
# 127.0.0.1 is NOT trusted (as in closed): reject_unauth_destination refuses relaying.
mynetworks = 192.0.2.1/32
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
# The catch-all: every address at mx.test is an alias of postmaster (who is in
# local_recipient_maps), so smtpd's recipient validation accepts any local part there.
virtual_alias_maps = inline:{ @mx.test=postmaster@mx.test }
# The server's side of each dialogue with the prober, in the maillog: smtpd logs every command
# it read ("< unknown[127.0.0.1]: RCPT TO:<...>") and every reply ("> unknown[127.0.0.1]: 250 ...").
debug_peer_list = 127.0.0.1
debug_peer_level = 1
EOF
  else
    cat >>"${etc}/main.cf" <<EOF

# --- OPEN RELAY (on purpose) ---
# smtpd refuses to start with "smtpd_relay_restrictions = permit" (it insists on at least one
# reject_unauth_destination or similar), so this instance is open the way real ones usually are:
# an over-broad mynetworks that trusts the prober's address (127.0.0.1).
smtpd_banner = \$myhostname ESMTP \$mail_name (\$mail_version)
smtpd_tls_security_level = may
smtpd_tls_chain_files = ${etc}/mx.test.key, ${etc}/mx.test.pem
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
EOF
  fi

  # A minimal master.cf: the smtpd listener on 127.0.0.1:PORT only and the internal services,
  # none chrooted (Debian's default master.cf chroots into the queue directory, which would need
  # copies of /etc files there). No "smtp" client service is defined at all.
  cat >"${etc}/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:${port} inet n      -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
  if [[ -n "${smtps_port}" ]]; then
    cat >>"${etc}/master.cf" <<EOF
127.0.0.1:${smtps_port} inet n      -       n       -       -       smtpd
  -o syslog_name=postfix-test-${flavour}/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
EOF
    printf '%s\n' "${smtps_port}" >"${dir}/smtps_port"
  fi
  printf '%s\n' "${port}" >"${dir}/port"
  printf '%s\n' "${flavour}" >"${dir}/flavour"

  # Creates the queue subdirectories with the right owners and modes.
  postfix -c "${etc}" set-permissions >/dev/null 2>&1 || true
  postfix -c "${etc}" check
}

# pf_start DIR: runs the master in the foreground (start-fg) as a background job of this shell
# and waits until smtpd's port listens.
pf_start() {
  local dir=$1 etc=$1/etc port
  port=$(<"${dir}/port")
  if ss -Hltn "sport = :${port}" | grep -q .; then
    pf_log_msg "port ${port} is already in use"
    return 1
  fi
  postfix -c "${etc}" start-fg >"${dir}/log/master.out" 2>&1 &
  printf '%s\n' "$!" >"${dir}/master.bgpid"
  PF_INSTANCES+=("${dir}")
  local i smtps_port=""
  [[ -r "${dir}/smtps_port" ]] && smtps_port=$(<"${dir}/smtps_port")
  for ((i = 0; i < 150; i++)); do
    if ss -Hltn "src 127.0.0.1 and sport = :${port}" | grep -q . &&
      { [[ -z "${smtps_port}" ]] || ss -Hltn "src 127.0.0.1 and sport = :${smtps_port}" | grep -q .; }; then
      pf_log_msg "$(<"${dir}/flavour") instance listening on 127.0.0.1:${port}${smtps_port:+ and 127.0.0.1:${smtps_port} (smtps)} (dir ${dir})"
      return 0
    fi
    if ! kill -0 "$(<"${dir}/master.bgpid")" 2>/dev/null; then
      pf_log_msg "postfix master for ${dir} exited early:"
      cat "${dir}/log/master.out" >&2 || true
      cat "${dir}/log/maillog" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.1
  done
  pf_log_msg "postfix for ${dir} did not listen on 127.0.0.1:${port} within 15s"
  cat "${dir}/log/master.out" >&2 || true
  return 1
}

# True when PID exists and is not a zombie (a master killed from outside may linger as one until
# its parent reaps it).
pf_alive() {
  local pid=$1 state
  kill -0 "${pid}" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/${pid}/stat" 2>/dev/null) || return 1
  [[ "${state}" != Z ]]
}

# Pid of the running master from the instance's own pid file, or nothing.
pf_master_pid() {
  local f=$1/spool/pid/master.pid pid
  [[ -r "${f}" ]] || return 0
  pid=$(tr -dc '0-9' <"${f}")
  [[ -n "${pid}" ]] && printf '%s\n' "${pid}"
}

pf_stop() {
  local dir=$1 etc=$1/etc bgpid="" pid i
  [[ -d "${etc}" ]] || return 0
  [[ -r "${dir}/master.bgpid" ]] && bgpid=$(<"${dir}/master.bgpid")
  postfix -c "${etc}" stop >/dev/null 2>&1 || true
  for ((i = 0; i < 100; i++)); do
    if [[ -z "${bgpid}" ]] || ! pf_alive "${bgpid}"; then
      break
    fi
    sleep 0.1
  done
  # Fallback: kill this instance's master (and with it its children) by its pid, never by name.
  pid=$(pf_master_pid "${dir}")
  if [[ -n "${pid}" ]] && pf_alive "${pid}"; then
    pf_log_msg "postfix stop did not end master ${pid}; killing it"
    kill -TERM "${pid}" 2>/dev/null || true
    sleep 1
    kill -KILL "${pid}" 2>/dev/null || true
  fi
  if [[ -n "${bgpid}" ]] && pf_alive "${bgpid}"; then
    kill -TERM "${bgpid}" 2>/dev/null || true
  fi
  if [[ -n "${bgpid}" ]]; then wait "${bgpid}" 2>/dev/null || true; fi
  rm -f "${dir}/master.bgpid"
}

pf_stop_all() {
  local d
  for d in "${PF_INSTANCES[@]}"; do
    pf_stop "${d}"
  done
  PF_INSTANCES=()
}

# Every file in the instance's mail queues (nothing should ever be there).
pf_queue_files() {
  local dir=$1 q
  for q in maildrop incoming active deferred hold corrupt bounce defer trace; do
    [[ -d "${dir}/spool/${q}" ]] && find "${dir}/spool/${q}" -type f
  done
  return 0
}

pf_log() { cat "$1/log/maillog" 2>/dev/null || true; }

# ---- standalone use ----
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  flavour=${1:-}
  if [[ "${flavour}" != closed && "${flavour}" != open && "${flavour}" != catchall ]]; then
    echo "usage: $0 closed|open|catchall [PORT]" >&2
    exit 2
  fi
  command -v postfix >/dev/null || {
    echo "postfix is not installed" >&2
    exit 77
  }
  port=${2:-$(pf_free_port)}
  top=$(mktemp -d /tmp/smtp-exporter-postfix.XXXXXX)
  trap 'pf_stop_all; rm -rf "${top}"' EXIT
  trap 'exit 130' INT TERM
  pf_make_ca "${top}/ca"
  pf_create "${top}/${flavour}" "${flavour}" "${port}" "${top}/ca"
  pf_start "${top}/${flavour}"
  echo "ready: ${flavour} relay on 127.0.0.1:${port}; CA ${top}/ca/ca.pem; log ${top}/${flavour}/log/maillog"
  echo "Ctrl-C to stop."
  while kill -0 "$(<"${top}/${flavour}/master.bgpid")" 2>/dev/null; do sleep 1; done
fi
