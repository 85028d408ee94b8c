#!/usr/bin/env bash
# Chromium for the browser tests: Debian's `chromium` package at /usr/bin/chromium, driven by Playwright.
# Browsers are never downloaded through Playwright (`playwright install` is not needed and must not be used).
# Installs the package with apt-get when it is missing: as root, or through sudo when that exists.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    AS_ROOT=()
elif command -v sudo >/dev/null 2>&1; then
    AS_ROOT=(sudo)
else
    echo "install-chromium: $CHROMIUM is missing and this user ($(id -un)) is not root, and sudo is not installed;" >&2
    echo "install-chromium: install Debian's chromium package as root:  apt-get install chromium" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium: $CHROMIUM is missing and apt-get is not available (not a Debian system?);" >&2
    echo "install-chromium: install Chromium so that it is at $CHROMIUM" >&2
    exit 1
fi

echo "install-chromium: installing Debian's chromium package (for the browser tests)" >&2
export DEBIAN_FRONTEND=noninteractive
if ! "${AS_ROOT[@]}" apt-get update -qq; then
    echo "install-chromium: apt-get update failed (is Debian's package registry reachable?)" >&2
    exit 1
fi
if ! "${AS_ROOT[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
    echo "install-chromium: apt-get install chromium failed (see the messages above)" >&2
    exit 1
fi
if [ ! -x "$CHROMIUM" ]; then
    echo "install-chromium: the chromium package is installed but $CHROMIUM is not there" >&2
    exit 1
fi
echo "install-chromium: $("$CHROMIUM" --version 2>/dev/null || echo chromium) at $CHROMIUM" >&2
