#!/bin/sh
# Renders the demo status page in headless Chromium (Debian's `chromium`), checks that the
# rendered DOM shows every demo target with its state, and leaves screenshots of the wide (fleet)
# and narrow (sidecar) layouts in OUT_DIR as artefacts.
# Usage: chromium_render.sh STATUS_PAGE_DEMO OUT_DIR. Exit 77 (skipped) without chromium.
set -eu
demo=$1
out=$2
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "chromium not installed: skipping" >&2
  exit 77
fi
mkdir -p "$out"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

render() {  # render PAGE WIDTHxHEIGHT SCREENSHOT [--dump-dom]
  page=$1 size=$2 shot=$3
  shift 3
  timeout 90 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --window-size="$size" "$@" --screenshot="$shot" \
    "file://$page" 2>/dev/null
}

"$demo" "$out/fleet.html"
"$demo" "$out/sidecar.html" sidecar
"$demo" "$out/transcript.html" transcript
render "$out/fleet.html" 1400,900 "$out/fleet.png" >/dev/null
render "$out/sidecar.html" 420,900 "$out/sidecar.png" >/dev/null
render "$out/transcript.html" 1000,800 "$out/transcript.png" >/dev/null
for png in fleet sidecar transcript; do
  [ -s "$out/$png.png" ] || { echo "no screenshot $out/$png.png" >&2; exit 1; }
done

timeout 90 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --dump-dom "file://$out/fleet.html" >"$out/fleet.dom.html" 2>/dev/null
status=0
for expect in 'mx1.example.org:25' 'relay.example.net:25' 'mx2.example.org:25' \
    'mx3.example.org:25' 'new.example.org:25' 'exchange.corp.example:25' \
    'smtps.example.org:465' 'legacy.example.com:25' 'tarpit.example.net:25' \
    'mx.blocked.example:25' 'secure.example.org:587' '[2001:db8::25]:25' 'hostile.example:25' \
    '>OPEN RELAY<' '>PENDING<' '>DOWN<' '>UP<' '<b>13</b> targets'; do
  if ! grep -qF -- "$expect" "$out/fleet.dom.html"; then
    echo "rendered page lacks: $expect" >&2
    status=1
  fi
done
# The hostile banner must have stayed text: no script element in the live DOM.
if grep -qi '<script' "$out/fleet.dom.html"; then
  echo "rendered page has a <script> element" >&2
  status=1
fi
[ $status -eq 0 ] && echo "ok: screenshots in $out"
exit $status
