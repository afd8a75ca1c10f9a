#!/bin/bash -eux
# vagrant for the bsd family of generic boxes
echo 'bsd vagrant'
