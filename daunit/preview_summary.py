"""`pulumi preview --json` -> a short markdown summary per app, for pull requests.

    scripts/pulumi preview --json --stack prod > preview.json
    python -m daunit.preview_summary < preview.json        # or scripts/preview-summary

For each app: which files of the release change, whether the virtualenv is
rebuilt, whether the app restarts (its Unit application object changes),
which Unit keys change (application, route, dispatch entry, listener), whether
its .env is rewritten, and what happens to its certificate. Pure: it reads
only the JSON, which the engine produced without changing any host.
Secret values arrive as "[secret]" and are never shown; values only known
after the update arrive as the engine's unknown marker and are shown as such.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["main", "summarize"]

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SECRET = "[secret]"
APP_TYPE = "daflask:index:FlaskApp"
# An app's resources by type (daunit.resources: `pulumi-python:dynamic/daflask:<Name>`),
# and the kind each is summarized as.
TYPE_PREFIX = "pulumi-python:dynamic/daflask:"
KINDS = {"Release": "release", "Virtualenv": "venv", "InstanceConfig": "instance",
         "UnitApplication": "unit-app", "UnitRoute": "unit-route", "UnitCertificate": "cert"}
# Inputs that say nothing a reviewer needs (the pickled provider, the connection).
QUIET = frozenset({"__provider", "connection", "log", "socket"})
CHANGING = frozenset({"create", "update", "delete", "replace", "create-replacement",
                      "delete-replaced", "import", "discard"})
MAX_ITEMS = 15


@dataclass
class Step:
    op: str
    urn: str
    old_inputs: dict[str, Any]
    new_inputs: dict[str, Any]
    old_outputs: dict[str, Any]

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def type(self) -> str:
        """The resource's own type: the last of the URN's type chain (parent$child)."""
        return self.urn.rsplit("::", 1)[0].rsplit("::", 1)[-1].rsplit("$", 1)[-1]

    @property
    def changes(self) -> bool:
        return self.op in CHANGING


@dataclass
class App:
    name: str
    steps: dict[str, Step] = field(default_factory=dict)


def _steps(preview: Mapping[str, Any]) -> Iterator[tuple[Step, str | None]]:
    for raw in preview.get("steps") or []:
        old = raw.get("oldState") or {}
        new = raw.get("newState") or {}
        parent = new.get("parent") or old.get("parent")
        yield (Step(raw.get("op", ""), raw.get("urn", ""), dict(old.get("inputs") or {}),
                    dict(new.get("inputs") or {}), dict(old.get("outputs") or {})), parent)


def _apps(preview: Mapping[str, Any]) -> tuple[dict[str, App], list[Step]]:
    apps: dict[str, App] = {}
    others: list[Step] = []
    for step, parent in _steps(preview):
        owner = parent.rsplit("::", 1)[-1] if parent and f"::{APP_TYPE}::" in parent else None
        kind = KINDS.get(step.type.removeprefix(TYPE_PREFIX)) \
            if step.type.startswith(TYPE_PREFIX) else None
        if owner is not None and kind is not None:
            apps.setdefault(owner, App(owner)).steps[kind] = step
            continue
        if step.type == APP_TYPE:
            apps.setdefault(step.name, App(step.name))
            continue
        others.append(step)
    return apps, others


# --- value diffs -----------------------------------------------------------------------


def _show(value: Any) -> str:
    if value == UNKNOWN:
        return "(known after the update)"
    if value == SECRET:
        return "[secret]"
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def changed_paths(old: Any, new: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths (as segments) where `new` differs from `old`; list items by index."""
    if old == new and new != UNKNOWN:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[tuple[str, ...]] = []
        for key in sorted(set(old) | set(new)):
            sub = (*path, str(key))
            if key not in old or key not in new:
                out.append(sub)
            else:
                out += changed_paths(old[key], new[key], sub)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            out += changed_paths(a, b, (*path, str(index)))
        return out
    return [path]


def _unit_key(*segments: str) -> str:
    """A path as Unit's control API spells it: routes/NAME/0/action/share."""
    return "/".join(segments)


def _listed(items: list[str], code: bool = True) -> str:
    shown = [f"`{i}`" if code else i for i in items[:MAX_ITEMS]]
    more = len(items) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


# --- per resource kind ---------------------------------------------------------------------


def _files(step: Step | None) -> str:
    if step is None:
        return "unchanged"
    old = step.old_inputs.get("files") or {}
    new = step.new_inputs.get("files") or {}
    if step.op == "create":
        return f"first release: {len(new)} files"
    if step.op == "delete":
        return "the release is removed"
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(p for p in set(old) & set(new) if old[p] != new[p])
    if not (added or removed or changed):
        live = step.old_outputs.get("files")
        if step.changes and isinstance(live, dict) and live != new:
            # Refresh read the release on the host and found it differs.
            extra = sorted(set(live) - set(new))
            edited = sorted(p for p in set(live) & set(new) if live[p] != new[p])
            missing = sorted(set(new) - set(live))
            seen = [f"{label} {_listed(items)}" for label, items in
                    (("extra", extra), ("edited", edited), ("missing", missing)) if items]
            return f"unchanged in the source; on the host refresh found {'; '.join(seen)}"
        return "unchanged"
    parts = []
    if changed:
        parts.append(f"changed {_listed(changed)}")
    if added:
        parts.append(f"added {_listed(added)}")
    if removed:
        parts.append(f"removed {_listed(removed)}")
    return "; ".join(parts)


def _venv(step: Step | None) -> str:
    if step is None:
        return "reused (unchanged)"
    new_key = step.new_inputs.get("key")
    if step.op == "create":
        return f"built (`{new_key}`)"
    if step.op == "delete":
        return "removed"
    old_key = step.old_inputs.get("key")
    if old_key == new_key:
        return f"reused (`{new_key}`)"
    old_reqs = set((step.old_inputs.get("requirements") or "").splitlines())
    new_reqs = set((step.new_inputs.get("requirements") or "").splitlines())
    delta = [f"+{r}" for r in sorted(new_reqs - old_reqs) if r] + \
            [f"-{r}" for r in sorted(old_reqs - new_reqs) if r]
    why = f" (requirements {_listed(delta)})" if delta else ""
    return f"rebuilt: `{old_key}` -> `{new_key}`{why}"


def _restart(step: Step | None) -> tuple[str, list[str]]:
    """Whether the app restarts, and the Unit application keys that change."""
    if step is None:
        return "no", []
    name = step.new_inputs.get("name") or step.old_inputs.get("name") or "?"
    prefix = f"applications/{name}"
    if step.op == "create":
        return "starts (new Unit application)", [prefix]
    if step.op == "delete":
        return "stops (the Unit application is removed)", [prefix]
    old, new = step.old_inputs.get("config"), step.new_inputs.get("config")
    if new == UNKNOWN:
        return "yes (its .env changes, so its config is known only during the update)", \
            [f"{prefix} (known after the update)"]
    paths = [p for p in changed_paths(old, new) if p != ("environment", "DAFLASK_ENV_REVISION")]
    renamed = _renamed(step, "applications")
    if renamed:
        return ("yes (moves to its new Unit name; the old object serves until the route "
                "switches, then it is removed)", renamed)
    if not paths:
        return "no", []
    why = "new release" if ("path",) in paths else "its Unit application changes"
    return f"yes ({why}; Unit swaps the workers gracefully)", [_unit_key(prefix, *p) for p in paths]


def _route(step: Step | None) -> list[str]:
    if step is None or not step.changes:
        return []
    name = step.new_inputs.get("name") or step.old_inputs.get("name") or "?"
    dispatch = step.new_inputs.get("dispatchRoute") or step.old_inputs.get("dispatchRoute") or "?"
    if step.op in ("create", "delete"):
        verb = "added" if step.op == "create" else "removed"
        listener = step.new_inputs.get("listener") or step.old_inputs.get("listener")
        return [f"routes/{name} ({verb})", f"routes/{dispatch}: this app's entry ({verb})",
                f"listeners/{listener} (if no other app uses it)"]
    keys = _renamed(step, "routes") or [
        _unit_key("routes", name, *p)
        for p in changed_paths(step.old_inputs.get("steps"), step.new_inputs.get("steps"))]
    if step.old_inputs.get("dispatchEntry") != step.new_inputs.get("dispatchEntry"):
        keys.append(f"routes/{dispatch}: this app's entry")
    if step.old_inputs.get("listener") != step.new_inputs.get("listener"):
        keys.append(f"listeners: {step.old_inputs.get('listener')} -> {step.new_inputs.get('listener')}")
    return keys


def _renamed(step: Step, kind: str) -> list[str]:
    """An update that moves the object to a new name (daunit.ownership's naming)."""
    old, new = step.old_inputs.get("name"), step.new_inputs.get("name")
    if not old or not new or old == new:
        return []
    return [f"{kind}/{new} (added)", f"{kind}/{old} (removed after the switch)"]


def _env(step: Step | None) -> str | None:
    if step is None:
        return None
    if step.op == "create":
        return "written (values secret)"
    if step.op == "delete":
        return "removed"
    if step.changes:
        return "rewritten (values secret, not shown)"
    return None


def _tls(step: Step | None) -> tuple[str | None, list[str]]:
    if step is None:
        return None, []
    new, old, outs = step.new_inputs, step.old_inputs, step.old_outputs
    listener = new.get("listener") or old.get("listener")
    source = new.get("source") or old.get("source")
    where = "from DirectAdmin's files" if source == "directadmin" else "from stack config"
    old_name = outs.get("name")
    if step.op == "create":
        chain = new.get("chainSha256")
        if isinstance(chain, str) and len(chain) == 64:
            name = f"`{new.get('unitName') or new.get('app')}-{chain[:16]}`"
        else:
            name = "(named after its chain, read on the host)"
        return f"certificate {name} created {where}, on `{listener}`", [f"certificates/{name.strip('`')}",
                                                                       f"listeners/{listener}/tls"]
    if step.op == "delete":
        return f"certificate `{old_name}` removed from `{listener}`", [f"certificates/{old_name}",
                                                                      f"listeners/{listener}/tls"]
    if not step.changes:
        expires = outs.get("notAfter")
        return (f"unchanged (`{old_name}`, expires {expires})" if old_name else None), []
    parts = []
    keys = [f"listeners/{listener}/tls/certificate"]
    old_chain, new_chain = old.get("chainSha256"), new.get("chainSha256")
    if old_chain != new_chain and isinstance(new_chain, str) and len(new_chain) == 64:
        new_name = f"{new.get('unitName') or new.get('app')}-{new_chain[:16]}"
        parts.append(f"rotated: `{old_name}` -> `{new_name}` (new chain in stack config; the old "
                     "bundle is deleted after the switch)")
        keys = [f"certificates/{new_name} (added)", f"certificates/{old_name} (deleted)", *keys]
    else:
        keys = [f"certificates/{old_name} (replaced by a bundle of the new chain)", *keys]
    if old.get("source") != new.get("source"):
        parts.append(f"source changes to {where}: the bundle is read on the host and rotated")
    if old.get("listener") != new.get("listener"):
        parts.append(f"moves from `{old.get('listener')}` to `{new.get('listener')}`")
    if not parts and outs.get("sourceSha256") != outs.get("installedSha256"):
        if outs.get("installedSha256") is None:
            parts.append(f"`{old_name}` is no longer in Unit or on `{listener}` (seen by refresh): "
                         "installed again")
        else:
            parts.append(f"renewed by DirectAdmin (refresh saw a new chain, sha256 "
                         f"{str(outs.get('sourceSha256'))[:16]}...): `{old_name}` is rotated")
    if not parts:
        paths = [".".join(p) for p in changed_paths(_plain(old), _plain(new))]
        parts.append(f"updated ({_listed(paths)})")
    return "; ".join(parts), keys


def _plain(inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in inputs.items() if k not in QUIET}


# --- the summary ------------------------------------------------------------------------------


def _stack_name(preview: Mapping[str, Any]) -> str | None:
    for raw in preview.get("steps") or []:
        urn = str(raw.get("urn", ""))
        if urn.startswith("urn:pulumi:"):
            return urn.split("::", 1)[0].removeprefix("urn:pulumi:")
    return None


def _app_section(app: App) -> list[str]:
    steps = app.steps
    if steps and all(s.op == "delete" for s in steps.values()):
        return [f"#### App `{app.name}`: removed", "",
                "- Unit application, route and dispatch entry removed; release, venvs and .env deleted"
                + ("; certificate removed" if "cert" in steps else ""), ""]
    if steps and not any(s.changes for s in steps.values()):
        tls, _ = _tls(steps.get("cert"))
        line = f"#### App `{app.name}`: no change"
        return [line, ""] + ([f"- **TLS**: {tls}", ""] if tls else [])
    restart, app_keys = _restart(steps.get("unit-app"))
    tls, tls_keys = _tls(steps.get("cert"))
    keys = app_keys + _route(steps.get("unit-route")) + (tls_keys if steps.get("cert") and
                                                        steps["cert"].changes else [])
    lines = [f"#### App `{app.name}`", "",
             f"- **Files**: {_files(steps.get('release'))}",
             f"- **Virtualenv**: {_venv(steps.get('venv'))}",
             f"- **App restart**: {restart}"]
    env = _env(steps.get("instance"))
    if env:
        lines.append(f"- **Environment (.env)**: {env}")
    lines.append(f"- **Unit keys**: {_listed(keys) if keys else 'none'}")
    if tls:
        lines.append(f"- **TLS**: {tls}")
    return [*lines, ""]


def summarize(preview: Mapping[str, Any], stack: str | None = None) -> str:
    """The markdown summary of one stack's `pulumi preview --json`."""
    stack = stack or _stack_name(preview) or "?"
    counts = preview.get("changeSummary") or {}
    total = ", ".join(f"{n} to {op}" if op != "same" else f"{n} unchanged"
                      for op, n in sorted(counts.items())) or "no changes"
    lines = [f"### Preview of stack `{stack}`: {total}", ""]
    errors = [d.get("message", "").strip() for d in preview.get("diagnostics") or []
              if d.get("severity") == "error"]
    if errors:
        lines += ["**The preview failed:**", "", "```", *errors, "```", ""]
    apps, others = _apps(preview)
    for name in sorted(apps):
        lines += _app_section(apps[name])
    host_lines = []
    for step in others:
        if step.changes and step.type == f"{TYPE_PREFIX}UnitHost":
            paths = [".".join(p) for p in changed_paths(_plain(step.old_inputs),
                                                        _plain(step.new_inputs))]
            host_lines.append(f"- host `{step.name.removesuffix('-unit')}`: {step.op}"
                              + (f" ({_listed(paths)})" if step.op == "update" and paths else ""))
    if host_lines:
        lines += ["#### Hosts", "", *host_lines, ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    stack = None
    if args[:1] == ["--stack"] and len(args) >= 2:
        stack = args[1]
    elif args:
        print("usage: python -m daunit.preview_summary [--stack NAME] < preview.json", file=sys.stderr)
        return 2
    text = sys.stdin.read()
    try:
        preview = json.loads(text)
    except ValueError:
        print("preview_summary: stdin is not the JSON of `pulumi preview --json`", file=sys.stderr)
        return 1
    sys.stdout.write(summarize(preview, stack))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
