#!/bin/bash -eux
# network for the alpine family of generic boxes
echo 'alpine network'
