#!/bin/bash -eux
# cleanup for the bsd family of generic boxes
echo 'bsd cleanup'
