#!/usr/bin/env bash
# The daemon's status page (`/`) loaded from the running daemon in headless Chromium (issue #3):
#
#   status_page_test.sh /path/to/smtp_exporter [ARTIFACT_DIR]
#
# Starts a closed Postfix (STARTTLS, test CA) and an open relay on 127.0.0.1
# (tests/integration/postfix_instance.sh) and the daemon probing them plus a closed port on
# 127.0.0.1; once every target has a result, Chromium renders http://127.0.0.1:<port>/ and the test
# checks that the rendered DOM shows every target with its state (UP, OPEN RELAY, DOWN), then
# saves screenshots of the page and of a transcript page in ARTIFACT_DIR (default: the build
# folder's artifacts/, next to daemon/): status_page.png, status_transcript.png, and the DOM.
#
# Exit: 0 passed, 1 an assertion failed ("FAIL - ..." lines), 77 skipped (no chromium, no
# postfix, not root). Only loopback traffic; nothing is ever delivered.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "usage: $0 /path/to/smtp_exporter [ARTIFACT_DIR]" >&2
  exit 2
fi
bin=$(realpath "$1")
artifacts=${2:-$(dirname "${bin}")/../artifacts}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=e2e_lib.sh
source "${here}/e2e_lib.sh"

browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z "${browser}" ]]; then
  echo "SKIP: chromium is not installed (apt-get install chromium)"
  exit 77
fi
e2e_require_root
e2e_require curl openssl ss timeout realpath awk
[[ -x "${bin}" ]] || die "${bin} is not an executable"
mkdir -p "${artifacts}"
artifacts=$(realpath "${artifacts}")

e2e_init status
e2e_start_postfix
closed=127.0.0.1:${CLOSED_PORT}
open=127.0.0.1:${OPEN_PORT}
down_port=$(e2e_free_port "${CLOSED_PORT}" "${OPEN_PORT}")
down=127.0.0.1:${down_port}
port=$(e2e_free_port "${CLOSED_PORT}" "${OPEN_PORT}" "${down_port}")
base=http://127.0.0.1:${port}

{
  e2e_module_yaml 5s
  cat <<EOF
targets:
  - address: ${closed}
    interval: 5s
    labels: {site: closed-mx}
  - address: ${open}
    interval: 5s
    labels: {site: open-relay}
  - address: ${down}
    interval: 5s
    labels: {site: nothing-listens}
EOF
} >"${E2E_TOP}/smtp_exporter.yml"

e2e_bg daemon "${bin}" --config.file "${E2E_TOP}/smtp_exporter.yml" \
  --web.listen-address "127.0.0.1:${port}"
metrics=${E2E_TOP}/metrics.txt
all_results() {
  [[ "$(http_get "${base}/metrics" "${metrics}")" == 200 ]] &&
    series_is "${metrics}" smtp_probe_success 1 "target=\"${closed}\"" &&
    series_is "${metrics}" smtp_relay_open 1 "target=\"${open}\"" &&
    series_is "${metrics}" smtp_relay_open 0 "target=\"${closed}\"" &&
    series_is "${metrics}" smtp_probe_success 0 "target=\"${down}\""
}
t0=${SECONDS}
if wait_until 60 "a result for every target" all_results; then
  pass "every target has a result after $((SECONDS - t0)) s"
else
  e2e_dump_log daemon
  die "not every target had its expected result within 60 s"
fi

profile=${E2E_TOP}/chromium-profile
mkdir -p "${profile}"
# chrome URL ARGS...: headless Chromium with a throwaway profile and no network of its own.
chrome() {
  local url=$1
  shift
  timeout 120 "${browser}" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --no-proxy-server --user-data-dir="${profile}" "$@" "${url}" 2>>"${E2E_TOP}/chromium.log"
}

dom=${artifacts}/status_page.dom.html
t0=${SECONDS}
if chrome "${base}/" --dump-dom >"${dom}" && [[ -s "${dom}" ]]; then
  pass "Chromium rendered ${base}/ ($((SECONDS - t0)) s, $(stat -c %s "${dom}") bytes of DOM)"
else
  sed 's/^/#   /' "${E2E_TOP}/chromium.log" | tail -n 20
  die "Chromium did not render the status page"
fi

# row TARGET: the rendered table row whose header names TARGET.
row() {
  awk -v want="title=\"$1\"" 'BEGIN { RS = "<tr" } index($0, want) { print "<tr" $0; exit }' "${dom}"
}
# row_has TARGET TEXT...: every TEXT is in TARGET's row.
row_has() {
  local target=$1 text r
  shift
  r=$(row "${target}")
  [[ -n "${r}" ]] || return 1
  for text in "$@"; do
    [[ "${r}" == *"${text}"* ]] || return 1
  done
}
# The title counts down and up targets (the open relay is its own category, see the summary).
check "rendered page title counts the open relay and the down target" grep -q '<title>smtp_exporter: 1 open relay, 1 down, ' "${dom}"
check "summary: 3 targets" grep -qF '<b>3</b> targets' "${dom}"
check "summary: 1 open relay" grep -qF '<b>1</b> open relay' "${dom}"
check "closed Postfix ${closed}: UP, banner, STARTTLS ok, certificate verified, relay closed" \
  row_has "${closed}" 'class="badge up">UP<' 'Postfix' 'class="ok">ok<' 'verified' 'class="ok">closed<' \
  'site=closed-mx'
check "open relay ${open}: OPEN RELAY, relay OPEN, Postfix version" \
  row_has "${open}" '>OPEN RELAY<' 'class="badge relay">OPEN<' 'Postfix 3.' 'site=open-relay'
check "closed port ${down}: DOWN with connect: refused" \
  row_has "${down}" 'class="badge down">DOWN<' 'connect' 'refused' 'site=nothing-listens'
for t in "${closed}" "${open}" "${down}"; do
  check "${t} links to its transcript" row_has "${t}" "href=\"/transcript?target=${t/:/%3A}&amp;module=default\""
done
check "the page refreshes itself" grep -q '<meta http-equiv="refresh"' "${dom}"
check "no external assets (no http(s):// src or stylesheet link)" \
  bash -c "! grep -Eq '(src|href)=\"(https?:)?//' '${dom}'"
check "no script element in the live DOM" bash -c "! grep -qi '<script' '${dom}'"

shot=${artifacts}/status_page.png
rm -f "${shot}"
t0=${SECONDS}
chrome "${base}/" --screenshot="${shot}" --window-size=1400,900 >/dev/null || true
if [[ -s "${shot}" ]] && [[ "$(head -c 8 "${shot}" | od -An -tx1 | tr -d ' \n')" == 89504e470d0a1a0a ]]; then
  pass "screenshot of the status page: ${shot} ($(stat -c %s "${shot}") bytes, $((SECONDS - t0)) s)"
else
  fail "no PNG screenshot at ${shot}"
fi
tshot=${artifacts}/status_transcript.png
rm -f "${tshot}"
chrome "${base}/transcript?target=${closed}&module=default" --screenshot="${tshot}" \
  --window-size=1000,900 >/dev/null || true
check "screenshot of the closed Postfix's transcript page: ${tshot}" test -s "${tshot}"

check "daemon still running" e2e_alive "${E2E_LAST_PID}"
if ((E2E_FAILURES > 0)); then
  e2e_dump_log daemon 20
  echo "# rendered DOM kept at ${dom}"
fi
e2e_summary
