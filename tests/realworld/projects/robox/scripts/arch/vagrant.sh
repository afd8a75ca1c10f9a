#!/bin/bash -eux
# vagrant for the arch family of generic boxes
echo 'arch vagrant'
