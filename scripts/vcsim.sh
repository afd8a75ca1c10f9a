#!/bin/sh
# Run govmomi's vCenter simulator on 127.0.0.1:${VCSIM_PORT:-8989} with the power-off sidecar
# (stands in for a guest that shuts down after its install), for `make demo`:
#
#   scripts/vcsim.sh &            # prints one JSON line with the connection values
#   VSPHERE_PASSWORD=pass packer build -var-file examples/vars/vsphere-sim.pkrvars.hcl \
#       examples/templates/vsphere
#
# Compiles the simulator on first use (~25-60 s cold, cached under $HYBRIDCORE_VCSIM_CACHE or
# $TMPDIR/hybridcore-vcsim). Stops on SIGINT/SIGTERM.
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
[ -x "$python" ] || python=python3
cd "$root"
# exec: signals reach the Python process directly, which then stops the simulator cleanly.
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" exec "$python" -m tests.support.vsphere --port "${VCSIM_PORT:-8989}" "$@"
