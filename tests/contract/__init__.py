"""Contract tests: the Unit control-API double against a real unitd."""
