#!/bin/bash -eux
# vagrant for the rhel family of generic boxes
echo 'rhel vagrant'
