#!/usr/bin/env bash
# Build the Pulumi engine, the Python language host and the pulumi-command
# provider from Go modules into .tools/ (ignored by git). Idempotent: a second
# run with everything present returns in well under a second.
#
# Why from Go modules: the engine is a Go program; the Python package on PyPI is
# only the SDK, and no prebuilt binary can be downloaded on these machines.
set -euo pipefail

PULUMI_VERSION=v3.259.0
PULUMI_COMMIT=a05d88f24d05726fa3beae771bfdedb0c0c6a94a   # the v3.259.0 release commit
COMMAND_VERSION=v1.2.1
COMMAND_COMMIT=7f3eb6f3b77cd0fa3895ba437a695dd393f7dd25  # pulumi-command 1.2.1

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
bin="$tools/bin"
mkdir -p "$bin"

have_version() { [ -x "$bin/pulumi" ] && [ "$("$bin/pulumi" version 2>/dev/null)" = "$PULUMI_VERSION" ]; }

if have_version && [ -x "$bin/pulumi-language-python" ] && [ -x "$bin/pulumi-resource-command" ] \
   && [ -x "$bin/pulumi-resource-pulumi-python" ] && [ -x "$bin/pulumi-language-python-exec" ]; then
  exit 0
fi

# A pulumi of the right version already on PATH is reused (its plugins still get built here).
if ! have_version && command -v pulumi >/dev/null 2>&1 && [ "$(pulumi version 2>/dev/null)" = "$PULUMI_VERSION" ]; then
  real=$(readlink -f "$(command -v pulumi)")
  ln -sf "$real" "$bin/pulumi"
fi

export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
ldflags_engine="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
work="$tools/build"
mkdir -p "$work"

if ! have_version; then
  echo "building pulumi $PULUMI_VERSION from Go modules (cold: 10-20 minutes on 2 cores)" >&2
  mod="$work/engine"
  mkdir -p "$mod"
  cat >"$mod/go.mod" <<MOD
module localbuild/pulumiengine

go 1.24

require (
	github.com/pulumi/pulumi/pkg/v3 $PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 $PULUMI_VERSION
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
MOD
  cat >"$mod/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
GO
  (cd "$mod" && go mod tidy -e >/dev/null 2>&1 || true
   cd "$mod" && go mod download github.com/pulumi/pulumi/pkg/v3 \
     && go get github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$PULUMI_VERSION \
     && go build -trimpath -tags osusergo,grpcnotrace -ldflags "$ldflags_engine" \
          -o "$bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
fi

if [ ! -x "$bin/pulumi-language-python" ]; then
  echo "building pulumi-language-python at $PULUMI_COMMIT" >&2
  mod="$work/langpython"
  mkdir -p "$mod"
  cat >"$mod/go.mod" <<MOD
module localbuild/langpython

go 1.24
MOD
  cat >"$mod/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3"
GO
  (cd "$mod" && go get github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3@$PULUMI_COMMIT \
     && go build -trimpath -tags osusergo,grpcnotrace -ldflags "$ldflags_engine" \
          -o "$bin/pulumi-language-python" github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3)
fi

# The two scripts the engine expects next to its binaries ship inside the sdk/v3 module.
sdkdir=$(cd "$work/engine" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
for script in python/cmd/pulumi-language-python-exec python/dist/pulumi-resource-pulumi-python; do
  name=$(basename "$script")
  if [ ! -x "$bin/$name" ]; then
    install -m 0755 "$sdkdir/$script" "$bin/$name"
  fi
done

if [ ! -x "$bin/pulumi-resource-command" ]; then
  echo "building pulumi-resource-command $COMMAND_VERSION" >&2
  GOBIN="$bin" go install -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$COMMAND_VERSION" \
    "github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command@$COMMAND_COMMIT"
fi

"$bin/pulumi" version
