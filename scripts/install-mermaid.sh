#!/usr/bin/env bash
# Installs the real Mermaid renderer the step-summary tests draw their gantt charts with: Node + npm and
# Debian's chromium (system packages, only if missing), then @mermaid-js/mermaid-cli as pinned by
# tests/support/mermaid-cli/package-lock.json into .tools/mermaid (project-local, never committed).
# Puppeteer's own browser download is skipped: the tests point mmdc at /usr/bin/chromium.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pins="$root/tests/support/mermaid-cli"
dest="${HYBRIDCORE_MERMAID_DIR:-$root/.tools/mermaid}"

need=()
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# Mermaid measures label widths in the browser: without any font the chart lays out badly.
fc-list 2>/dev/null | grep -q . || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing for the Mermaid renderer: ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

want="$(sha256sum "$pins/package-lock.json" | cut -d' ' -f1)"
if [ -x "$dest/node_modules/.bin/mmdc" ] && [ "$(cat "$dest/.installed" 2>/dev/null)" = "$want" ]; then
  echo "mermaid-cli: present in $dest"
  exit 0
fi
echo "installing mermaid-cli into $dest"
rm -rf "$dest"
mkdir -p "$dest"
printf '*\n' >"$dest/.gitignore"  # the folder ignores itself, whatever the repository's .gitignore says
cp "$pins/package.json" "$pins/package-lock.json" "$dest/"
# --ignore-scripts: the only install script in the tree is puppeteer's browser download, unwanted here.
(cd "$dest" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
echo "$want" >"$dest/.installed"
