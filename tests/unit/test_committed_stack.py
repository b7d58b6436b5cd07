"""The committed dev stack holds no secret and no passphrase salt: `make demo`
adds both per checkout (encrypted with that checkout's own passphrase), and a
committed salt would make every fresh checkout's `make demo` fail with
"incorrect passphrase"."""
from __future__ import annotations

import subprocess

import yaml

from tests.support.engine import REPO


def test_committed_dev_stack_has_no_secret_and_no_salt() -> None:
    committed = subprocess.run(["git", "-C", str(REPO), "show", "HEAD:stacks/Pulumi.dev.yaml"],
                               capture_output=True, text=True, check=True).stdout
    doc = yaml.safe_load(committed)
    assert "encryptionsalt" not in doc and "secretsprovider" not in doc
    assert "da-flask:appSecrets" not in doc["config"]
    assert not [line for line in committed.splitlines()
                if "secure:" in line and not line.lstrip().startswith("#")]
