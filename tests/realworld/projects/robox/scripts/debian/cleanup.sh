#!/bin/bash -eux
# cleanup for the debian family of generic boxes
echo 'debian cleanup'
