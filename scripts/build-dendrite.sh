#!/usr/bin/env bash
# Builds the Dendrite binaries that integration tests run (internal/testground/dendrite), once, into a
# cache directory shared by all checkouts, and prints that directory's bin path on stdout.
#
# The cache is ${ISTHMUS_CACHE:-$HOME/.cache/isthmus}/dendrite-<version>/bin. When all binaries are
# there nothing is built. A cold build takes about two minutes; concurrent callers wait on a lock
# instead of building twice. Build output goes to stderr.
set -euo pipefail

version=v0.13.8
cmds=(dendrite generate-keys generate-config create-account)
root="${ISTHMUS_CACHE:-$HOME/.cache/isthmus}/dendrite-$version"
bin="$root/bin"

have_all() {
	local c
	for c in "${cmds[@]}"; do
		[[ -x "$bin/$c" ]] || return 1
	done
}

if have_all; then
	echo "$bin"
	exit 0
fi

if ! command -v go >/dev/null; then
	echo "build-dendrite.sh: the go command is needed to build Dendrite $version" >&2
	exit 1
fi
mkdir -p "$bin"
if command -v flock >/dev/null; then
	exec 9>"$root/.build.lock"
	flock 9
	# Another caller may have finished the build while we waited.
	if have_all; then
		echo "$bin"
		exit 0
	fi
fi

# Stage inside the cache directory so the final moves stay on one file system and are atomic: a
# concurrent reader sees each binary either complete or absent.
stage="$(mktemp -d "$root/.stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT

pkgs=()
for c in "${cmds[@]}"; do
	pkgs+=("github.com/matrix-org/dendrite/cmd/$c@$version")
done

echo "building Dendrite $version into $bin (about two minutes cold)" >&2
start=$SECONDS
# Run from the staging directory, outside any module, so no go.mod or go.work is read or touched.
(
	cd "$stage"
	GOWORK=off GOBIN="$stage/bin" GOFLAGS="${GOFLAGS:-} -mod=mod" go install "${pkgs[@]}"
) >&2
for c in "${cmds[@]}"; do
	mv -f "$stage/bin/$c" "$bin/$c"
done
echo "built Dendrite $version in $((SECONDS - start)) s" >&2
echo "$bin"
