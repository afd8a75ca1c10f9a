#!/bin/bash -eux
# base for the alpine family of generic boxes
echo 'alpine base'
