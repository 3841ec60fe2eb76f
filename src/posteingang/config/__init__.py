"""Configuration: one TOML file, validated into frozen structs with a default for every setting.

Public API: `load_config(path) -> Config` (raises `ConfigError` listing every
problem with its key path), `default_config(data_dir)`, the section structs
(`StoreConfig` is what `posteingang.store.open_store` takes), and the renderers
that generate `docs/configuration.md` and the commented file `init` writes.
Nothing here starts servers, opens the store or prints.
"""

from posteingang.config.loader import (
    ConfigError,
    ConfigIssue,
    config_from_mapping,
    default_config,
    load_config,
)
from posteingang.config.render import DOC_PATH, render_markdown, render_toml
from posteingang.config.schema import (
    Config,
    DeliveryConfig,
    LimitsConfig,
    LogConfig,
    Section,
    ServerConfig,
    Setting,
    StoreConfig,
)

__all__ = [
    "DOC_PATH",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "DeliveryConfig",
    "LimitsConfig",
    "LogConfig",
    "Section",
    "ServerConfig",
    "Setting",
    "StoreConfig",
    "config_from_mapping",
    "default_config",
    "load_config",
    "render_markdown",
    "render_toml",
]
