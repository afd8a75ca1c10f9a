#!/bin/bash -eux
# vagrant for the alpine family of generic boxes
echo 'alpine vagrant'
