#!/usr/bin/env bash
# Debian packages the browser test (tests/test_web_browser.py) needs: headless Chromium, its
# WebDriver, and a Korean font so transcripts render in screenshots. Needs root (or sudo).
set -euo pipefail
packages=(chromium chromium-driver fonts-nanum)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
  || { $sudo apt-get update >/dev/null && $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
echo "installed ${missing[*]}"
