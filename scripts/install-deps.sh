#!/usr/bin/env bash
# Installs the system packages hybridcore-packer's demo and test suite need, only if missing:
# Debian's packer (1.6.6), qemu for the real image build, Go + govmomi for the vCenter simulator,
# PostgreSQL (server + client tools) for the shared-state tests (tests/support/postgres.py starts it).
set -euo pipefail

# The real Mermaid renderer for the step-summary tests: nodejs/npm/chromium if missing, then
# mermaid-cli into .tools/mermaid (its own script, so this hunk stays apart from the package list).
"$(dirname "$0")/install-mermaid.sh"

need=()
command -v packer >/dev/null 2>&1 || need+=(packer)
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
command -v go >/dev/null 2>&1 || need+=(golang-go)
[ -d /usr/share/gocode/src/github.com/vmware/govmomi ] || need+=(golang-github-vmware-govmomi-dev)
command -v git >/dev/null 2>&1 || need+=(git)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
compgen -G "/usr/lib/postgresql/*/bin/pg_dump" >/dev/null || need+=(postgresql-client)
command -v strace >/dev/null 2>&1 || need+=(strace)  # tests/realworld: what Packer really reads

if [ ${#need[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
echo "installing: ${need[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
