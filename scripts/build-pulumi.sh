#!/usr/bin/env bash
# Build the Pulumi engine from Go modules into .tools/bin (ignored by git) and
# put the Python language host and dynamic-provider scripts beside it.
# Idempotent: with everything present it returns in about a second.
#
# Why from Go modules: the engine is a Go program; the Python package on PyPI is
# only the SDK, and no prebuilt binary can be downloaded on these machines.
set -euo pipefail

# Usage: build-pulumi.sh [VERSION [BIN_DIR]]. Without arguments: the engine the
# project pins, into .tools/bin. With them: another engine version (the tests
# run the core scenario under a newer one too), into BIN_DIR.
PULUMI_VERSION=${1:-v3.259.0}
COMMAND_VERSION=v1.2.1
COMMAND_COMMIT=7f3eb6f3b77cd0fa3895ba437a695dd393f7dd25  # pulumi-command 1.2.1

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
bin="${2:-$tools/bin}"
mkdir -p "$bin"; bin=$(cd "$bin" && pwd)
work="$tools/build"
[ "$bin" = "$tools/bin" ] || work="$tools/build-$PULUMI_VERSION"
mkdir -p "$bin" "$work"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

have_version() { [ -x "$bin/pulumi" ] && [ "$("$bin/pulumi" version 2>/dev/null)" = "$PULUMI_VERSION" ]; }


# The engine's own module: a small wrapper module, because pkg/v3's go.mod has
# replace directives that `go install pkg@version` refuses.
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

if ! have_version; then
  echo "building pulumi $PULUMI_VERSION from Go modules (cold: about 7-20 minutes on 2 cores)" >&2
  (cd "$mod" \
   && go get github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$PULUMI_VERSION 2>&1 | grep -v 'retracted\|switch to the latest\|go get github.com/microcosm' >&2 || true
   cd "$mod" && go build -trimpath -tags osusergo,grpcnotrace \
     -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
     -o "$bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
fi
have_version || { echo "pulumi $PULUMI_VERSION did not build" >&2; exit 1; }

# The executor and dynamic-provider scripts ship inside the sdk/v3 module; the
# engine looks for them next to its own binary. Module cache files are
# read-only and not executable, hence the copies.
sdkdir=$(cd "$mod" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
install -m 0755 "$sdkdir/python/cmd/pulumi-language-python-exec" "$bin/pulumi-language-python-exec"
install -m 0755 "$sdkdir/python/dist/pulumi-resource-pulumi-python" "$bin/pulumi-resource-pulumi-python"

# The Python language host. Its Go module
# (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) is not
# served by the module proxy here, so engine/langhost.py implements that small
# gRPC service and runs the SDK's own executor script (see its docstring).
cat >"$bin/pulumi-language-python" <<LAUNCHER
#!/bin/sh
PULUMI_PYTHON_EXECUTOR="$bin/pulumi-language-python-exec" exec "$root/.venv/bin/python" "$root/engine/langhost.py" "\$@"
LAUNCHER
chmod 0755 "$bin/pulumi-language-python"

# pulumi-command's provider (github.com/pulumi/pulumi-command/provider) is not
# served by the module proxy here either (403 for every version). Nothing the
# project deploys needs it; it is built whenever the module can be had.
if [ "$bin" = "$tools/bin" ] && [ ! -x "$bin/pulumi-resource-command" ] && [ ! -e "$work/command-unavailable" ]; then
  if ! GOBIN="$bin" go install -trimpath \
      -ldflags "-s -w -X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$COMMAND_VERSION" \
      "github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command@$COMMAND_COMMIT" 2>/dev/null; then
    echo "note: pulumi-resource-command $COMMAND_VERSION not built: its Go module is not served here" >&2
    touch "$work/command-unavailable"
  fi
fi

echo "pulumi $("$bin/pulumi" version) ready in $bin" >&2
