#!/bin/sh
echo "smoke test: node"
