#!/usr/bin/env bash
# Throwaway Haraka instances for the real-MTA tests (haraka_test.sh, auth_test.sh). Source it
# after mta_lib.sh's mta_begin; it needs ${kit} (tests/mta/haraka), ${haraka_pkg} (Haraka in
# ${kit}/node_modules) and ${top}, and a test CA in ${top}/ca (mta_make_ca).
#
#   hk_create NAME FLAVOUR PORT [SMTPS_PORT]  -> ${top}/NAME: Haraka's installer, then the kit's
#                                              common/ and FLAVOUR/ config on top
#   hk_start NAME / hk_stop NAME
# shellcheck disable=SC2154  # top, kit, haraka_pkg, haraka_version: the caller's

# hk_create NAME FLAVOUR PORT [SMTPS_PORT]: ${top}/NAME, made by Haraka's own installer
# (haraka -i: default connection.ini etc.), then the kit's config on top.
hk_create() {
  local name=$1 flavour=$2 port=$3 smtps_port=${4:-} dir=${top}/$1 listen
  node "${haraka_pkg}/bin/haraka" -i "${dir}" >"${top}/${name}.install.log" 2>&1
  cp -R "${kit}/common/." "${dir}/"
  cp "${kit}/${flavour}/"* "${dir}/config/"
  cp "${top}/ca/mx.test.pem" "${dir}/config/tls_cert.pem"
  cp "${top}/ca/mx.test.key" "${dir}/config/tls_key.pem"
  # Without dhparams.pem Haraka spawns "openssl dhparam 2048" at start-up (minutes of CPU, and
  # it outlives Haraka); the RFC 7919 group is instant and as good for a test.
  openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 \
    -out "${dir}/config/dhparams.pem" 2>/dev/null
  listen=127.0.0.1:${port}${smtps_port:+,127.0.0.1:${smtps_port}}
  sed -i -e "s/@LISTEN@/${listen}/" -e "s/@SMTPS_PORT@/${smtps_port:-0}/" "${dir}/config/smtp.ini"
  printf '%s\n' "${port}" >"${dir}/port"
}
# hk_start NAME: runs haraka -c DIR in the background (one process, no cluster), waits for its
# ports and for the end of its start-up (its log says the outbound queue, empty, was loaded).
hk_start() {
  local name=$1 dir=${top}/$1 pid p
  node "${haraka_pkg}/bin/haraka" -c "${dir}" >"${dir}/haraka.log" 2>&1 &
  pid=$!
  printf '%s\n' "${pid}" >"${dir}/pid"
  mta_on_exit "hk_stop ${name}"
  for p in $(sed -n 's/^listen=//p' "${dir}/config/smtp.ini" | tr ',' ' '); do
    if ! mta_wait_port "${p##*:}" 30; then
      echo "--- haraka.log of ${name}:"
      tail -n 40 "${dir}/haraka.log"
      fail "${name}: Haraka did not listen on ${p} within 30 s"
      exit 1
    fi
  done
  wait_log "${dir}/haraka.log" 0 'files in my temp fail queue' 1 20 || true
  echo "Haraka ${haraka_version:-} ${name} instance: pid ${pid}, listening on $(sed -n 's/^listen=//p' "${dir}/config/smtp.ini")"
}
hk_stop() {
  local dir=${top}/$1
  [[ -r "${dir}/pid" ]] || return 0
  mta_stop_pid "$(<"${dir}/pid")"
  rm -f "${dir}/pid"
}
