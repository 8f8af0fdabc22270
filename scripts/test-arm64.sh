#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make test-arm64`: see test-cross.sh.
exec "$(dirname "$0")/test-cross.sh" arm64
