#!/bin/sh
# Builds the chart renderer offline from Debian's Go packages:
#   apt-get install golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev golang-gopkg-yaml.v3-dev
# Debian installs sprig v3 and semver v3 without the /v3 directory their import paths need,
# so a throw-away GOPATH entry supplies those two paths as symlinks (GOPATH mode, no network).
# Usage: build.sh <output-binary>
set -eu
out=${1:?usage: build.sh <output-binary>}
here=$(cd "$(dirname "$0")" && pwd)
gocode=/usr/share/gocode/src
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/gopath/src/github.com/Masterminds/sprig" "$work/gopath/src/github.com/Masterminds/semver"
ln -s "$gocode/github.com/Masterminds/sprig" "$work/gopath/src/github.com/Masterminds/sprig/v3"
ln -s "$gocode/github.com/Masterminds/semver" "$work/gopath/src/github.com/Masterminds/semver/v3"
cd "$here"
GO111MODULE=off GOPATH="$work/gopath:/usr/share/gocode" GOPROXY=off GOFLAGS= \
  GOCACHE="${GOCACHE:-$work/cache}" go build -o "$out" .
