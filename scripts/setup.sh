#!/usr/bin/env bash
# Install everything the project needs on a Debian 12 machine, from nothing:
# Debian packages, the project's virtualenv, and the Pulumi engine (built from
# Go modules, cached in .tools/). Safe to run again: it skips what is present.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

packages=(openssh-server openssh-client python3.11 python3.11-venv python3.11-dev
          iproute2 tinyproxy util-linux procps curl ca-certificates nginx apache2)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2; exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The project's own virtualenv, on Debian's Python 3.11: the same interpreter
# a DirectAdmin host's Unit module links against in the lab.
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3.11 -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q -r requirements.txt
  echo "$want" > "$stamp"
fi

# Your own Pulumi CLI when it is usable (scripts/which-pulumi says why not);
# otherwise build the engine from Go modules.
if engine=$(scripts/which-pulumi) && [ "$engine" != "$root/.tools/bin/pulumi" ]; then
  echo "setup: using your Pulumi CLI $engine ($("$engine" version))" >&2
else
  scripts/build-pulumi.sh
fi

# Byte-compile the program's own modules once: every `pulumi` command runs the
# program and the provider process anew, and a shell with PYTHONDONTWRITEBYTECODE
# would otherwise compile them from source each time (Python still recompiles a
# module whose source is newer than its cache).
.venv/bin/python -m compileall -q daunit components engine lab __main__.py >/dev/null
