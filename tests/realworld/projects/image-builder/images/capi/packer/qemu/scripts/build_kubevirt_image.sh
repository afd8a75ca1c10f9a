#!/usr/bin/env bash
# Wraps the qcow2 Packer produced into a container disk for KubeVirt.
set -euo pipefail
name="$1"
cat > "${OUTPUT_DIR}/Dockerfile" <<DOCKERFILE
FROM scratch
ADD --chown=107:107 ${name}.qcow2 /disk/
DOCKERFILE
