"""The host scripts take every path from daunit.layout, and the host reads parse (pure)."""
from __future__ import annotations

import pytest

from daunit import hostops
from daunit.layout import ENV_FILE_MODE, LOCK_FILE, VENV_COMPLETE, AppLayout, links_arg
from daunit.shipped import ENTRY_NAME

APP_DIR = "/home/username/domains/example.com/public_html/shop"
SITE = hostops.Site("username", APP_DIR, "example.com", owner="proj/dev")
RID, KEY = "0123456789abcdef", "py3.11-fedcba9876543210"
LAYOUT = AppLayout(APP_DIR)

# What the layout names: none of it may be spelled again in a script.
LAYOUT_WORDS = ["/releases", "/venvs", "/instance", "/logs", "/current", ".daflask-owner", VENV_COMPLETE,
                ENTRY_NAME, ".incoming-", ".stale-", ".current-new", "../../", LOCK_FILE]


@pytest.mark.parametrize("word", LAYOUT_WORDS)
def test_no_script_spells_a_layout_path(word: str) -> None:
    assert not [s for s in hostops.CONSTANT_SCRIPTS if word in s]


def step_args(argv: list[str]) -> list[str]:
    """What as_site_user hands the step after the app dir."""
    assert argv[:2] == ["sh", "-c"]
    return argv[13:]


def test_the_steps_get_the_layouts_paths() -> None:
    claim = hostops.as_site_user(SITE, "true")
    assert claim[4:13] == ["username", APP_DIR, "example.com", "domain", "proj/dev", "", LAYOUT.owner_file,
                           "755", "true"]
    assert step_args(hostops.prepare_release(SITE, RID, "fedcba9876543210")) == [
        LAYOUT.releases_dir, LAYOUT.release_dir(RID), LAYOUT.incoming_dir(RID), LAYOUT.incoming_manifest(RID),
        LAYOUT.stale_dir(RID), links_arg(), LAYOUT.release_dir("fedcba9876543210")]
    assert step_args(hostops.switch_and_prune(SITE, RID, 5, [RID, KEY])) == [
        LAYOUT.release_dir(RID), LAYOUT.current_link, LAYOUT.current_staging, f"releases/{RID}",
        LAYOUT.releases_dir, LAYOUT.venvs_dir, "5", RID, KEY]
    assert step_args(hostops.finish_release(SITE, RID, "wsgi.py")) == [
        LAYOUT.release_dir(RID), LAYOUT.incoming_dir(RID), LAYOUT.incoming_manifest(RID), LAYOUT.stale_dir(RID),
        links_arg(), "wsgi.py", "644", "755"]
    assert step_args(hostops.write_env(SITE)) == [LAYOUT.instance_dir, LAYOUT.logs_dir, LAYOUT.env_file,
                                                  "700", "600"]
    assert step_args(hostops.run_in_release(SITE, RID, KEY, ["flask", "routes"])) == [
        LAYOUT.releases_dir, LAYOUT.release_dir(RID), LAYOUT.venvs_dir, LAYOUT.venv_dir(KEY), VENV_COMPLETE,
        ENTRY_NAME, "split", "flask", "routes"]


def test_steps_refuse_ids_that_are_not_the_layouts() -> None:
    with pytest.raises(ValueError, match="release id"):
        hostops.finish_release(SITE, "../../../etc", "wsgi.py")
    with pytest.raises(ValueError, match="venv key"):
        hostops.build_venv(SITE, "py3.11-../x", "python3")


def test_release_files_parse() -> None:
    fact = hostops.release_files(SITE, RID)
    assert not fact.check
    out = b"aa  ./wsgi.py\nbb  ./app/x y.py\nnot-a-regular-file  ./app/link\n"
    assert fact.parse(0, out) == {"wsgi.py": "aa", "app/x y.py": "bb", "app/link": "not-a-regular-file"}
    assert fact.parse(3, b"") is None


def test_env_file_parse() -> None:
    fact = hostops.env_file(SITE)
    assert fact.check
    assert fact.parse(0, b"600 username " + b"ab" * 32 + b"\n") == hostops.EnvFile(ENV_FILE_MODE, "username", "ab" * 32)
    assert fact.parse(0, b"MISSING\n") is None


def test_venv_built_and_free_space_parse() -> None:
    assert hostops.venv_built(SITE, KEY).parse(0, b"") is True
    assert hostops.venv_built(SITE, KEY).parse(1, b"") is False
    space = hostops.free_space(SITE)
    df = b"Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda1 1000 900 100 90% /home\n"
    assert space.parse(0, df) == 100
    assert space.parse(1, b"df: no such file\n") is None
