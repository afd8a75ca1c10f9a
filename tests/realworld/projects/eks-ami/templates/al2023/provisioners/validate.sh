#!/usr/bin/env bash
set -o errexit
test -f /etc/eks/release
