#!/bin/sh
echo "$GREETING from $BUILDER"
