#!/usr/bin/env bash
# The main job on the built-in lab host: make the lab (a DirectAdmin-like host
# in its own namespaces), deploy the example Flask app to it with
# `pulumi up` on the dev stack, and show it answering through NGINX Unit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=.venv/bin/python
pulumi=scripts/pulumi

$py -m lab up --name dev
address=$($py -c 'import json; print(json.load(open(".lab/dev/lab.json"))["address"])')

$pulumi stack select dev --create --secrets-provider passphrase >/dev/null
if [ "$($pulumi config get --path hosts.lab.address --stack dev 2>/dev/null)" != "$address" ]; then
  $pulumi config set --path hosts.lab.address "$address" --stack dev
fi
if ! $pulumi config get --path appSecrets.flask_app.SECRET_KEY --stack dev >/dev/null 2>&1; then
  # A random key, on stdin: never in argv or shell history.
  head -c 32 /dev/urandom | base64 | tr -d '\n' \
    | $pulumi config set --secret --path appSecrets.flask_app.SECRET_KEY --stack dev
fi

$pulumi up --yes --stack dev --diff

echo
echo "== GET http://example.com/ (through Unit on the lab host $address)"
curl -sS --max-time 10 -H 'Host: example.com' "http://$address/" | sed -n '/<main>/,/<\/main>/p'
echo "== GET http://example.com/static/style.css (served by Unit's share, not by Flask)"
curl -sS --max-time 10 -o /dev/null -D - -H 'Host: example.com' "http://$address/static/style.css" \
  | grep -iE '^(HTTP|server|content-type|etag)'
echo
echo "Stack outputs: scripts/pulumi stack output --stack dev"
echo "Tear down: scripts/pulumi destroy --yes --stack dev && make lab-down"
