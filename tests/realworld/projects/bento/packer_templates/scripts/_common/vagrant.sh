#!/bin/sh -eux
# bento-style common step: vagrant
echo "vagrant done"
