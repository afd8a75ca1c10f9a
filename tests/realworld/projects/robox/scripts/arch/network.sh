#!/bin/bash -eux
# network for the arch family of generic boxes
echo 'arch network'
