#!/bin/bash -eux
# cleanup for the gentoo family of generic boxes
echo 'gentoo cleanup'
