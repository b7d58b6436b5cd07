#!/usr/bin/env bash
# The main job on the built-in lab host: make the lab (a DirectAdmin-like host
# in its own namespaces), deploy the example Flask app to it with `pulumi up`,
# show what was applied (Unit's config for the app, the tree on the host) and,
# when the lab runs a real unitd, the app answering through NGINX Unit.
#
# Without a real unitd the lab's Unit is the control-API test double: it keeps
# Unit's configuration but runs no Python and serves no HTTP. The demo then
# deploys with the app's `healthCheck: false` (set in the stack's config file,
# where it can be seen) and says so, instead of failing on a page nobody serves.
#
# Defaults are the developer's own lab and stack; tests move them aside:
#   DEMO_LAB=dev        the lab host (python -m lab; DALAB_DIR moves its state)
#   DEMO_STACK=dev      the stack deployed
#   DEMO_PROJECT=.      the Pulumi project (its stacks/Pulumi.$DEMO_STACK.yaml must exist)
# scripts/pulumi's variables (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE, ...)
# and the lab's (UNITD, UNIT_MODULES) pass through.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$root"
py="$root/.venv/bin/python"
lab_name=${DEMO_LAB:-dev}
stack=${DEMO_STACK:-dev}
project=$(cd "${DEMO_PROJECT:-$root}" && pwd -P)
config_file="$project/stacks/Pulumi.$stack.yaml"
app=flask_app  # apps[0] of stacks/Pulumi.dev.yaml
domain=example.com
project_name=$(sed -n 's/^name: *//p' "$project/Pulumi.yaml" | head -n 1)

pulumi() { (cd "$project" && "$root/scripts/pulumi" "$@" --stack "$stack"); }
lab_get() { "$py" -m lab get --name "$lab_name" "$1"; }
on_lab() { "$py" -m lab ssh --name "$lab_name" -- "$@"; }
# A path as the stack config gives it: relative to the project when inside it.
config_path() { case $1 in "$project"/*) echo "${1#"$project"/}" ;; *) echo "$1" ;; esac; }
# Set a config key only when it differs, so the file is not rewritten for nothing.
keep_config() {
  if [ "$(pulumi config get --path "$1" 2>/dev/null)" != "$2" ]; then
    pulumi config set --path "$1" "$2"
  fi
}

if [ ! -f "$config_file" ]; then
  echo "demo: $config_file does not exist: copy stacks/Pulumi.dev.yaml there first" >&2
  exit 1
fi

"$py" -m lab up --name "$lab_name"
address=$(lab_get address)
unit_kind=$(lab_get unit_kind)
unit_socket=$(lab_get unit_socket)
site=$(lab_get da_user)
front=$(lab_get front)
# Behind a front server (DirectAdmin's way, daunit/directadmin.py) Unit knows the app as
# DOMAIN_N and its route as DOMAIN; on Unit alone as daflask:<project>:<stack>:<app>
# (daunit/ownership.py). Either way the names come from the project's own code.
names=$("$py" - "$project_name" "$stack" "$app" "$domain" "$front" <<'EOF'
import sys
from daunit import directadmin
from daunit.ownership import Owner, unit_name
project, stack, app, domain, front = sys.argv[1:]
owner = Owner(project, stack)
stored = directadmin.stored_name(owner, app)
if front == "none":
    print(unit_name(owner, app), unit_name(owner, app), "da-flask-hosts", stored)
else:
    print(directadmin.unit_app_name(domain, stored), directadmin.route_name(domain, "/"),
          directadmin.DISPATCH_ROUTE, stored)
EOF
)
read -r unit_name route_name dispatch_name stored_name <<<"$names"

(cd "$project" && "$root/scripts/pulumi" stack select "$stack" --create --secrets-provider passphrase >/dev/null)
# The stack follows the lab this run made (a new lab has a new host key).
keep_config hosts.lab.address "$address"
keep_config hosts.lab.hostKeyFile "$(config_path "$(lab_get known_hosts_path)")"
keep_config hosts.lab.keyFile "$(config_path "$(lab_get client_key_path)")"
if ! pulumi config get --path "appSecrets.$app.SECRET_KEY" >/dev/null 2>&1; then
  # A random key, on stdin: never in argv or shell history.
  head -c 32 /dev/urandom | base64 | tr -d '\n' \
    | pulumi config set --secret --path "appSecrets.$app.SECRET_KEY"
fi
# The health check asks the app for its page through Unit's listener. The
# double has no listener to ask, so against it the check is off; with a real
# unitd it is on (the demo's own `false` from an earlier run is removed).
if [ "$unit_kind" = real ]; then
  if [ "$(pulumi config get --path 'apps[0].healthCheck' 2>/dev/null)" = false ]; then
    pulumi config rm --path 'apps[0].healthCheck'
  fi
else
  echo "== Deploying with healthCheck: false for $app ($(config_path "$config_file")): the lab's Unit runs no Python (see the end)"
  keep_config 'apps[0].healthCheck' false
fi

pulumi up --yes --diff

app_dir="/home/$site/domains/example.com/public_html/$app"
lab_arg=""
[ "$lab_name" = dev ] || lab_arg=" LAB=$lab_name"
echo
echo "== Unit's config for $app, read on the lab host through Unit's control socket $unit_socket"
for key in "applications/$unit_name" "routes/$route_name" "routes/$dispatch_name" listeners; do
  echo "GET /config/$key"
  on_lab curl -sS --max-time 10 --unix-socket "$unit_socket" "http://localhost/config/$key"
  echo
done
if [ "$front" != none ]; then
  da_domains="/usr/local/directadmin/data/users/$site/domains"
  echo "== What DirectAdmin has stored for it (a re-fill of Unit makes the config above from these)"
  for f in "$da_domains/$domain.unit/$stored_name.json" "$da_domains/$domain.routes/$domain"; do
    echo "$f"
    on_lab cat "$f"
  done
  echo
fi
echo "== The app's tree on the host, $app_dir (mode owner:group path; the virtualenv's contents left out)"
on_lab cd "$app_dir" '&&' find . -path "'./venvs/*/*'" -prune -o \
  '\(' -type l -printf "'%M %u:%g %p -> %l\n'" '\)' -o -printf "'%M %u:%g %p\n'" | LC_ALL=C sort -k3,3
echo

if [ "$unit_kind" = real ]; then
  via="Unit on the lab host $address"
  [ "$front" = none ] || via="$front on the lab host $address, Unit behind it"
  echo "== GET http://example.com/ (through $via)"
  curl -sS --max-time 10 -H 'Host: example.com' "http://$address/" | sed -n '/<main>/,/<\/main>/p'
  echo "== GET http://example.com/static/style.css (served by Unit's share, not by Flask)"
  curl -sS --max-time 10 -o /dev/null -D - -H 'Host: example.com' "http://$address/static/style.css" \
    | grep -iE '^(HTTP|server|content-type|etag)'
  if [ "$front" != none ]; then
    echo "== GET https://example.com/ ($front with the domain's DirectAdmin certificate, checked against the lab CA)"
    curl -sS --max-time 10 -o /dev/null -D - --cacert "$(lab_get ca_cert_path)" \
      --resolve "example.com:443:$address" https://example.com/ | grep -iE '^(HTTP|server)'
  fi
else
  echo "== The lab's Unit is the control-API double (the lab found no real unitd when it was made), so the page cannot be fetched: it keeps Unit's config but runs no Python."
  echo "   For the page: build NGINX Unit 1.35 with its Python module and point UNITD at its unitd"
  echo "   (or put it at /opt/unit/sbin/unitd), then: make lab-down$lab_arg && make demo$lab_arg"
fi
echo
echo "Stack outputs: scripts/pulumi stack output --stack $stack"
echo "Tear down: scripts/pulumi destroy --yes --stack $stack && make lab-down$lab_arg"
