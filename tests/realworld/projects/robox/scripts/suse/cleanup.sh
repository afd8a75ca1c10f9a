#!/bin/bash -eux
# cleanup for the suse family of generic boxes
echo 'suse cleanup'
