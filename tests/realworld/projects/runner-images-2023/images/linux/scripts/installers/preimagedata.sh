#!/bin/bash -e
echo "{\"image_version\": \"$IMAGE_VERSION\"}" > /imagegeneration/imagedata.json
