#!/bin/bash -eux
# boxcutter-style step: vagrant
echo "==> vagrant"
