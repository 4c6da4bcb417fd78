#!/usr/bin/env bash
# The project's one test command: vet, then every test with the race detector. Extra arguments go
# to `go test` (e.g. scripts/test.sh -run TestX -v). Integration tests need the Dendrite binaries,
# built once into a cache by scripts/build-dendrite.sh; when that build fails they skip locally
# (and fail when ISTHMUS_REQUIRE_DENDRITE=1, as in CI).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! scripts/build-dendrite.sh >/dev/null; then
	echo "test.sh: warning: could not build Dendrite; its integration tests will skip" >&2
fi
go vet ./...
go test -race -count=1 -timeout 30m "$@" ./...
