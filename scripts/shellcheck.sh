#!/usr/bin/env bash
# Lints every shell script the project ships or runs (launchers, fixtures, scripts) with shellcheck.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -co --exclude-standard | while read -r f; do
  [[ -f $f ]] || continue
  case $f in node_modules/* | dist/*) continue ;; esac
  if [[ $f == *.sh ]] || head -c 64 "$f" 2>/dev/null | grep -qE '^#!.*\b(bash|sh)\b'; then echo "$f"; fi
done)
((${#files[@]} == 0)) || shellcheck -x "${files[@]}"
