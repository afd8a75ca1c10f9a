#!/usr/bin/env bash
set -o errexit
sudo rm -rf /var/cache/dnf /tmp/worker /var/log/cloud-init*.log
