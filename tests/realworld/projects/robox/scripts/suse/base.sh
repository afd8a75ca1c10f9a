#!/bin/bash -eux
# base for the suse family of generic boxes
echo 'suse base'
