#!/bin/sh -eux
# bento-style common step: update_packages
echo "update_packages done"
