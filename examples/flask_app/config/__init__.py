"""Settings per environment, picked by name (FLASK_CONFIG).

Values that come from the environment are read in `create_app`, after
instance/.env is loaded, not here at import time: class attributes are
evaluated once, before the .env file could have been read.
"""
from __future__ import annotations


class Config:
    DEBUG = False
    TESTING = False
    # Set from the environment by create_app; None means "not configured".
    SECRET_KEY: str | None = None
    # Production refuses to start without a real SECRET_KEY.
    REQUIRE_SECRET_KEY = False
    # Write logs/flask_app.log next to the instance folder.
    LOG_TO_FILE = True


class DevelopmentConfig(Config):
    DEBUG = True
    SECRET_KEY = "development-only-not-a-secret"
    LOG_TO_FILE = False


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing-only-not-a-secret"
    LOG_TO_FILE = False


class ProductionConfig(Config):
    REQUIRE_SECRET_KEY = True


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_for(name: str) -> type[Config]:
    try:
        return CONFIGS[name]
    except KeyError:
        known = ", ".join(sorted(CONFIGS))
        raise ValueError(f"FLASK_CONFIG={name!r} is not a known configuration: use one of {known}") from None
