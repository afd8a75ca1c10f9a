#!/bin/bash -eux
# cleanup for the alpine family of generic boxes
echo 'alpine cleanup'
