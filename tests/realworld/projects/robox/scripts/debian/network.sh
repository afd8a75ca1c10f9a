#!/bin/bash -eux
# network for the debian family of generic boxes
echo 'debian network'
