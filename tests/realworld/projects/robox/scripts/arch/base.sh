#!/bin/bash -eux
# base for the arch family of generic boxes
echo 'arch base'
