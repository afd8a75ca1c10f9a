#!/usr/bin/env bash
set -euo pipefail
source /tmp/lib.sh
log "installing micromamba"
