#!/bin/bash -eux
# base for the gentoo family of generic boxes
echo 'gentoo base'
