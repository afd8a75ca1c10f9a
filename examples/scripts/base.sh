#!/bin/sh
# Stand-in base configuration every image gets (packages, users); handed over by hybridcore-packer.
set -eu
echo "base: installing the platform agent"
