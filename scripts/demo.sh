#!/usr/bin/env bash
# `make demo`: validate the example hybrid project and build every image this machine can build:
# vSphere (against govmomi's vCenter simulator), an Azure stand-in, a null smoke build and a real qemu
# image downloaded from a loopback HTTP server. Everything runs offline.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
hc="$root/.venv/bin/hybridcore-packer"
py="$root/.venv/bin/python"
ex="$root/examples"
demo="$ex/.demo"
mkdir -p "$demo"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "serving a boot disk on loopback HTTP for the qemu image"
sum=$(PYTHONPATH="$root" "$py" -m tests.support.bootdisk "$demo/bootdisk.raw")
PYTHONPATH="$root" "$py" -m tests.support.http_server "$demo" --port 8718 > "$demo/http.log" 2>&1 &
pids+=($!)
cat > "$ex/vars/qemu-demo.pkrvars.hcl" <<VARS
# written by scripts/demo.sh
iso_url      = "http://127.0.0.1:8718/bootdisk.raw"
iso_checksum = "sha256:$sum"
VARS

step "starting the vCenter simulator (compiled on first use, ~30-60 s)"
VCSIM_PORT=8989 "$root/scripts/vcsim.sh" > "$demo/vcsim.json" 2> "$demo/vcsim.log" &
pids+=($!)
for _ in $(seq 1 600); do [ -s "$demo/vcsim.json" ] && break; sleep 0.2; done
[ -s "$demo/vcsim.json" ] || { echo "vCenter simulator did not start; see $demo/vcsim.log"; exit 1; }
cat "$demo/vcsim.json"

export VSPHERE_PASSWORD=pass                       # the simulator's; reaches Packer as an env secret
export ARM_CLIENT_SECRET=demo-client-secret-value  # lets the azure-arm template validate offline
cd "$ex"

step "hybridcore-packer fmt --check"
"$hc" fmt --check vsphere azure azure-local qemu

step "hybridcore-packer validate (records trust for every target)"
"$hc" validate vsphere azure azure-local smoke qemu

step "hybridcore-packer drift"
"$hc" drift vsphere azure-local smoke qemu

step "hybridcore-packer build --parallel 4 (vsphere, azure-local, smoke, qemu)"
"$hc" build vsphere azure-local smoke qemu --parallel 4 --force

step "artifact records"
"$hc" artifacts --limit 10
echo
echo "records: $ex/artifacts/   runs and logs: $ex/.hybridcore/runs/   state: $ex/.hybridcore/state.db"
