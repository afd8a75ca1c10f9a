#!/bin/sh -eux
# bento-style common step: motd
echo "motd done"
