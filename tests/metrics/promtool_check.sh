#!/bin/sh
# Runs `promtool check metrics` on every golden exposition file in $1. Any lint finding fails:
# promtool must exit 0 and print nothing. Exit 77 (skip) when promtool is not installed.
set -u
dir=${1:?usage: promtool_check.sh TESTDATA_DIR}
if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool not found (apt-get install prometheus); skipping"
  exit 77
fi
found=0
failed=0
for file in "$dir"/*.prom; do
  [ -e "$file" ] || continue
  found=$((found + 1))
  output=$(promtool check metrics <"$file" 2>&1)
  status=$?
  if [ "$status" -ne 0 ] || [ -n "$output" ]; then
    echo "FAIL $(basename "$file") (exit $status):"
    echo "$output"
    failed=$((failed + 1))
  else
    echo "ok   $(basename "$file")"
  fi
done
if [ "$found" -eq 0 ]; then
  echo "no golden files in $dir"
  exit 1
fi
[ "$failed" -eq 0 ]
