#!/usr/bin/env bash
# Debian's chromium and its chromedriver for the human evaluation page's browser test
# (tests/integration/serve/test_human_eval_browser.py, driven by Selenium), installed with apt-get
# when missing; `make browser-tools` (and so `make test`) comes here. Needs root to install.
set -euo pipefail

say() { printf '[browser-tools] %s\n' "$*" >&2; }
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if [ ${#missing[@]} -eq 0 ]; then
  say "$(chromium --version 2>/dev/null | head -1), $(chromedriver --version | awk '{print $1, $2}')"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  say "error: missing ${missing[*]}: apt-get install -y ${missing[*]} (as root)"
  exit 1
fi
say "installing ${missing[*]} with apt-get"
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
