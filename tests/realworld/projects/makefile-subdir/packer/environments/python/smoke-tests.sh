#!/bin/sh
echo "smoke test: python"
