#!/bin/bash -eux
# vagrant for the debian family of generic boxes
echo 'debian vagrant'
