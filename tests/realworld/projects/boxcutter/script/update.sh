#!/bin/bash -eux
# boxcutter-style step: update
echo "==> update"
