#!/bin/sh -eux
# bento-style common step: sshd
echo "sshd done"
