#!/bin/bash -eux
# boxcutter-style step: minimize
echo "==> minimize"
