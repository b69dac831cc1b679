#!/usr/bin/env bash
# Debian's Chromium and its ChromeDriver for the browser test of `lithmap demo` (tests/test_demo_report.py
# opens the report in headless Chromium through selenium and /usr/bin/chromedriver; nothing is downloaded
# when the tests run). Installs what is missing with apt-get when it can (root or sudo).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || [ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
# fonts, so that the page and its figures render text in the screenshot
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing browser packages for the report test: ${need[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "error: missing ${need[*]} (apt-get install them as root)" >&2; exit 1; fi
$sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
