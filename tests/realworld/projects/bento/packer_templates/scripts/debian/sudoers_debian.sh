#!/bin/sh -eux
# sudoers step for debian
echo "sudoers_debian"
