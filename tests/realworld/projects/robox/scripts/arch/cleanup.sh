#!/bin/bash -eux
# cleanup for the arch family of generic boxes
echo 'arch cleanup'
