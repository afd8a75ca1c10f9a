#!/bin/bash -eux
# network for the bsd family of generic boxes
echo 'bsd network'
