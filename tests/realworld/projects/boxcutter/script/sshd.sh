#!/bin/bash -eux
# boxcutter-style step: sshd
echo "==> sshd"
