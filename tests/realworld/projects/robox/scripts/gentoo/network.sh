#!/bin/bash -eux
# network for the gentoo family of generic boxes
echo 'gentoo network'
