#!/bin/sh -eux
# bento-style common step: minimize
echo "minimize done"
