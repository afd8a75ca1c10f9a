#!/bin/bash -eux
# base for the bsd family of generic boxes
echo 'bsd base'
