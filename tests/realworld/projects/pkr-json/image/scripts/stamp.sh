#!/bin/sh
# Runs on the build host for every source: records what was built.
echo "stamp: $BANNER ${PACKER_BUILD_NAME}"
