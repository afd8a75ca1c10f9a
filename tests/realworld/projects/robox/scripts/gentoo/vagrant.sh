#!/bin/bash -eux
# vagrant for the gentoo family of generic boxes
echo 'gentoo vagrant'
