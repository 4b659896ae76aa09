#!/bin/sh
# the build context is the image root
touch etc/built
