#!/bin/bash -eux
# base for the debian family of generic boxes
echo 'debian base'
