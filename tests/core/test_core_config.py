"""Configuration: mappings, TOML files, core keys, no secret in repr."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN
from pathlib import Path

import pytest

from paygate.config import Config
from paygate.errors import ConfigurationError


def test_toml_file_and_sections(tmp_path: Path) -> None:
    path = tmp_path / "paygate.toml"
    path.write_text(
        'default_provider = "stripe"\nrounding = "ROUND_HALF_EVEN"\n'
        '[stripe]\napi_key = "sk_test_abcdef123456"\n'
    )
    config = Config.load(path)
    assert config.default_provider == "stripe"
    assert config.rounding == ROUND_HALF_EVEN
    assert config.section("stripe") == {"api_key": "sk_test_abcdef123456"}
    assert config.section("paypal") == {}
    assert "sk_test_abcdef123456" not in repr(config)


def test_env_overrides_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYGATE_DATABASE_URL", "sqlite:///x.db")
    assert Config({"database_url": "memory"}).database_url == "sqlite:///x.db"


@pytest.mark.parametrize(
    "bad", [{"rounding": "ROUND_SIDEWAYS"}, {"stripe": "sk_test_x"}, "not a mapping"]
)
def test_bad_config_is_a_config_error(bad: object, tmp_path: Path) -> None:
    def load() -> None:
        Config(bad).section("stripe")  # type: ignore[arg-type]

    with pytest.raises(ConfigurationError):
        load()


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        Config.load(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[stripe\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        Config.load(broken)


@pytest.mark.parametrize("bad", [0, -1, "8", 2.5, True])
def test_database_pool_size_is_checked(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="database_pool_size"):
        Config({"database_pool_size": bad})
    assert Config({}).database_pool_size == 32
    assert Config({"database_pool_size": 4}).database_pool_size == 4
