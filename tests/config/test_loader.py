"""load_config: defaults, every error with its key path, paths, environment overrides."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.config import (
    Config,
    ConfigError,
    config_from_mapping,
    default_config,
    load_config,
    render_markdown,
    render_toml,
)
from posteingang.pop3.settings import Pop3Settings
from posteingang.store.model import DeletionPolicy


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "posteingang.toml"
    path.write_text(text, encoding="utf-8")
    return path


def issues(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env=env or {})
    return [str(i) for i in info.value.issues]


def test_empty_file_gives_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), env={})
    assert config.server.data_dir == tmp_path.resolve()
    assert config.server.hostname  # the machine's FQDN, never empty
    assert config.store.backend == "sqlite"
    assert config.store.sqlite_path == tmp_path.resolve() / "store.sqlite3"
    assert config.store.blob_dir == tmp_path.resolve() / "blobs"
    assert config.store.dsn is None
    assert config.tls.cert == tmp_path.resolve() / "tls" / "cert.pem"
    assert config.tls.min_version == "TLSv1.2"
    assert config.log.format == "console"
    assert config.limits.max_message_size == 50 * 1024 * 1024
    assert config.delivery.recipient_delimiter == "+"
    assert config.section(Pop3Settings).deletion_policy is DeletionPolicy.EXPUNGE
    assert config.section(Pop3Settings).retention_days is None
    assert config.path == (tmp_path / "posteingang.toml").resolve()


def test_values_are_read(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
            [server]
            hostname = "mx.example.org"
            [limits]
            max_message_size = 10485760
            [log]
            format = "json"
            level = "debug"
            [pop3]
            deletion_policy = "trash"
            retention_days = 30
            """,
        ),
        env={},
    )
    assert config.server.hostname == "mx.example.org"
    assert config.limits.max_message_size == 10 * 1024 * 1024
    assert (config.log.format, config.log.level) == ("json", "debug")
    assert config.section(Pop3Settings).deletion_policy is DeletionPolicy.TRASH
    assert config.section(Pop3Settings).retention_days == 30


# (TOML text, the issue lines expected, in order)
BAD = [
    ('[limits]\nmax_message_size = "50M"', ["limits.max_message_size: expected int, got str"]),
    ("[limits]\nmax_message_size = 12", ["limits.max_message_size: expected int >= 1024, got 12"]),
    ("[limits]\nmax_message_size = 1.5e6", ["limits.max_message_size: expected int, got float"]),
    ('[log]\nformat = "xml"', ["log.format: expected one of \"console\", \"json\", got 'xml'"]),
    ('[pop3]\ndeletion_policy = "nuke"', ["pop3.deletion_policy: expected one of \"expunge\", "
                                          "\"trash\", \"hide\", got 'nuke'"]),
    ("[pop3]\nretention_days = 0", ["pop3.retention_days: expected int >= 1, got 0"]),
    ('[store]\nbackend = "postgres"', ["store.dsn: backend \"postgres\" needs a dsn "
                                       "(or POSTEINGANG_STORE_DSN)"]),
    ("[store]\nsqlite_path = 5", ["store.sqlite_path: expected a path (str), got int"]),
    ('[store]\nblob_dir = ""', ["store.blob_dir: empty path"]),
    ('[server]\nhostname = "a b"', ["server.hostname: not a host name: 'a b'"]),
    ('[delivery]\nrecipient_delimiter = "+-"',
     ["delivery.recipient_delimiter: expected str of length <= 1, got '+-'"]),
    ("[limits]\nmax_line_lenght = 5000",
     ["limits.max_line_lenght: unknown setting (did you mean 'max_line_length'?)"]),
    ("[smtpd]\nport = 25", ["smtpd: unknown section (did you mean 'smtp'?)"]),
    ("[srever]\n", ["srever: unknown section (did you mean 'server'?)"]),
    ('limits = 5', ["limits: expected a table, got int"]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_each_bad_value_is_reported_with_its_key_path(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    assert issues(tmp_path, text) == expected


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    found = issues(
        tmp_path,
        """
        [limits]
        max_message_size = "big"
        max_connections = -1
        [log]
        format = "xml"
        colour = true
        """,
    )
    keys = sorted(line.split(":")[0] for line in found)
    assert keys == ["limits.max_connections", "limits.max_message_size", "log.colour", "log.format"]


def test_summary_is_one_line_and_counts_the_rest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, '[log]\nformat = 1\nlevel = "loud"\n'), env={})
    summary = info.value.summary()
    assert "\n" not in summary
    assert summary.startswith("log.")
    assert "and 1 more" in summary


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write(tmp_path, "[server\n"))
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'[server]\nhostname = "m\xe4il"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)


def test_relative_paths_given_are_relative_to_the_config_file(tmp_path: Path) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    path = conf_dir / "p.toml"
    path.write_text(
        '[server]\ndata_dir = "../var"\n[store]\nsqlite_path = "db/s.sqlite3"\n'
        '[tls]\ncert = "/abs/cert.pem"\n'
    )
    config = load_config(path, env={})
    var = (tmp_path / "var").resolve()
    assert config.server.data_dir == var
    assert config.store.sqlite_path == conf_dir.resolve() / "db" / "s.sqlite3"  # given: config dir
    assert config.store.blob_dir == var / "blobs"  # default: data dir
    assert config.tls.cert == Path("/abs/cert.pem")
    assert config.tls.key == var / "tls" / "key.pem"


def test_environment_overrides_the_dsn(tmp_path: Path) -> None:
    path = write(tmp_path, '[store]\nbackend = "postgres"\ndsn = "postgresql://file"\n')
    config = load_config(path, env={"POSTEINGANG_STORE_DSN": "postgresql://env"})
    assert config.store.dsn == "postgresql://env"
    # Settings not marked for the environment are not read from it.
    config = load_config(path, env={"POSTEINGANG_LOG_FORMAT": "json"})
    assert config.log.format == "console"
    assert config.store.dsn == "postgresql://file"


def test_default_config_for_a_data_dir(tmp_path: Path) -> None:
    config = default_config(tmp_path, env={})
    assert config.server.data_dir == tmp_path.resolve()
    assert config.store.sqlite_path == tmp_path.resolve() / "store.sqlite3"
    assert config.path is None


def test_the_commented_template_loads_to_the_defaults(tmp_path: Path) -> None:
    text = render_toml({"server": {"hostname": "mx.example.org"}}, header="test")
    config = load_config(write(tmp_path, text), env={})
    defaults = config_from_mapping(
        {"server": {"hostname": "mx.example.org"}}, base_dir=tmp_path.resolve(), env={}
    )
    assert config.server == defaults.server
    for name in ("store", "tls", "log", "limits", "delivery"):
        assert getattr(config, name) == getattr(defaults, name), name
    assert config.section(Pop3Settings) == defaults.section(Pop3Settings)
    # Uncommenting every setting of the tables must give a file that still loads to the
    # same values (the [[listener]] example at the end stays commented).
    tables_part = text.partition("\n# [[")[0]
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") and " = " in line and "default:" not in line else line
        for line in tables_part.splitlines()
    )
    assert load_config(write(tmp_path, uncommented), env={}).limits == config.limits


toml_scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=20),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
key_names = st.sampled_from(
    ["hostname", "data_dir", "backend", "sqlite_path", "dsn", "cert", "min_version", "level",
     "format", "max_message_size", "recipient_delimiter", "deletion_policy", "retention_days",
     "shutdown_timeout", "bogus"]
)  # fmt: skip
section_names = st.sampled_from(
    ["server", "store", "tls", "log", "limits", "delivery", "pop3", "imap"]
)
documents = st.dictionaries(
    section_names,
    st.one_of(st.dictionaries(key_names, toml_values, max_size=4), toml_scalars),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_any_document_gives_a_config_or_config_errors(doc: dict[str, Any]) -> None:
    try:
        config = config_from_mapping(doc, base_dir=Path("/srv/mail"), env={})
    except ConfigError as e:
        assert e.issues
        assert all(str(i).split(":")[0] for i in e.issues)
    else:
        assert isinstance(config, Config)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_a_config_or_config_errors(tmp_path_factory: Any, text: str) -> None:
    path = tmp_path_factory.mktemp("c") / "x.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_config(path, env={})
    except ConfigError as e:
        assert e.issues


def test_tomllib_agrees_with_our_template() -> None:
    # The template is TOML even with every default shown.
    tomllib.loads(render_toml())


def test_listener_array_of_tables(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
            [[listener]]
            protocol = "IMAP"
            port = 1143
            host = "127.0.0.1"
            tls = "starttls"

            [[listener]]
            protocol = "IMAP"
            port = 1993
            tls = "implicit"
            """,
        ),
        env={},
    )
    assert [(x.protocol, x.port, str(x.tls)) for x in config.listener] == [
        ("IMAP", 1143, "starttls"),
        ("IMAP", 1993, "implicit"),
    ]
    assert config.listener[1].host == "::"
    assert load_config(write(tmp_path, ""), env={}).listener == []


def test_listener_errors_name_the_item(tmp_path: Path) -> None:
    found = issues(
        tmp_path,
        """
        [[listener]]
        protocol = "IMAP"
        port = "143"

        [[listener]]
        port = 110
        colour = "blue"

        [[listener]]
        protocol = "SMTP"
        port = 25
        proxy_protocol = true
        """,
    )
    assert found == [
        "listener[0].port: expected int, got str",
        "listener[1].colour: unknown setting",
        "listener[1].protocol: required setting missing",
        "listener[2].trusted_proxies: proxy_protocol is on but no proxy is trusted",
    ]
    assert issues(tmp_path, "listener = 5") == [
        "listener: expected an array of tables ([[listener]]), got int"
    ]


def test_nested_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
            [tls.sni."mail.example.org"]
            cert = "certs/org.pem"
            key = "/etc/ssl/org.key"
            """,
        ),
        env={},
    )
    sni = config.tls.sni["mail.example.org"]
    assert sni.cert == tmp_path.resolve() / "certs" / "org.pem"
    assert sni.key == Path("/etc/ssl/org.key")
    found = issues(tmp_path, '[tls.sni."a.example"]\ncert = "c.pem"\n')
    assert found == ["tls.sni[...].key: required setting missing"]


def test_derived_fields_of_a_section_are_not_settings(tmp_path: Path) -> None:
    """`Pop3Settings.hostname` is `server.hostname` applied by the runtime: the file
    cannot set it, and the reference does not list it."""
    assert issues(tmp_path, '[pop3]\nhostname = "x"\n') == ["pop3.hostname: unknown setting"]
    pop3_table = render_toml().partition("\n[pop3]\n")[2].partition("\n[")[0]
    assert "apop" in pop3_table and "hostname" not in pop3_table
    assert "`pop3.apop`" in render_markdown() and "`pop3.hostname`" not in render_markdown()


def test_protocol_sections_are_read_by_type(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[pop3]\napop = true\n"), env={})
    assert config.section(Pop3Settings).apop is True
    assert Config().section(Pop3Settings) == Pop3Settings()  # a missing section: its defaults
