#!/bin/bash -eux
# cleanup for the rhel family of generic boxes
echo 'rhel cleanup'
