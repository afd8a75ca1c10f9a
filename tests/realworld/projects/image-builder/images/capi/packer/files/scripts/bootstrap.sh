#!/usr/bin/env bash
# Python for Ansible on images that ship without it.
set -euo pipefail
command -v python3 >/dev/null || apt-get install -y python3
