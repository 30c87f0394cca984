#!/bin/sh
# Build the lakehouse Dagster image (infra/image/Containerfile) with podman, from Debian packages and
# PyPI only: no registry. `make image` runs it; tests/infra/test_image.py smoke-tests what it built.
#
#   infra/image/build.sh          build unless the image for these inputs exists; print its name
#   infra/image/build.sh --tag    print the name only (localhost/lakehouse-dagster:<inputs hash>)
#
# The tag is a hash of the build context, which this script assembles from exactly the image's
# inputs (Containerfile, dagster.yaml, entrypoint.sh, pyproject.toml, README.md, lakehouse_assets/,
# glue_scripts/, the templates of infra/cloudformation and infra/stepfunctions; no __pycache__): the same inputs give the same tag, and a built tag is not rebuilt.
# The base, a Debian bookworm minbase made by mmdebstrap, is made once (localhost/lakehouse-base:bookworm).
# Needs root (mmdebstrap, and podman's chroot isolation, which works without a container runtime's
# rlimits and shares the host's network). PIP_CERT, when set (a proxy's CA bundle), is mounted for
# the build's pip and stays out of the image.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
name=${LAKEHOUSE_IMAGE_NAME:-localhost/lakehouse-dagster}
# LAKEHOUSE_IMAGE_BASE: a Debian bookworm image to build on instead (CI: docker.io/library/debian:bookworm-slim).
base=${LAKEHOUSE_IMAGE_BASE:-localhost/lakehouse-base:bookworm}

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$here/Containerfile" "$here/dagster.yaml" "$here/entrypoint.sh" "$repo/pyproject.toml" "$repo/README.md" "$context/"
for package in lakehouse_assets glue_scripts; do
  (cd "$repo" && find "$package" -name __pycache__ -prune -o -type f -name '*.py' -print) | while read -r file; do
    mkdir -p "$context/$(dirname "$file")"
    cp "$repo/$file" "$context/$file"
  done
done
# The templates are package data (`lakehouse_infra`): `lakehouse deploy` from the image sends them.
mkdir -p "$context/infra/cloudformation" "$context/infra/stepfunctions"
cp "$repo"/infra/cloudformation/*.yaml "$context/infra/cloudformation/"
cp "$repo"/infra/stepfunctions/*.json "$context/infra/stepfunctions/"
digest=$(cd "$context" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
image="$name:$digest"

if [ "${1:-}" = "--tag" ]; then
  echo "$image"
  exit 0
fi
if podman image exists "$image"; then
  echo "$image"
  exit 0
fi

if [ -z "${LAKEHOUSE_IMAGE_BASE:-}" ] && ! podman image exists "$base"; then
  echo "making the Debian bookworm base with mmdebstrap" >&2
  mmdebstrap --quiet --variant=minbase bookworm "$context/base.tar"
  podman import --quiet "$context/base.tar" "$base" >/dev/null
  rm -f "$context/base.tar"
fi

set -- --isolation chroot --layers --tag "$image" --build-arg "BASE=$base"
if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
  set -- "$@" --volume "$PIP_CERT:/run/lakehouse-pip-cert.pem:ro" --build-arg PIP_CERT_FILE=/run/lakehouse-pip-cert.pem
fi
echo "building $image" >&2
podman build --quiet "$@" --file "$context/Containerfile" "$context" >&2
# Older builds of this name are superseded: untag them (their shared layers stay, the rest is pruned).
podman images --format '{{.Repository}}:{{.Tag}}' "$name" | grep -vx "$image" | xargs -r podman rmi >/dev/null 2>&1 || true
echo "$image"
