#!/bin/bash -eux
# boxcutter-style step: cleanup
echo "==> cleanup"
