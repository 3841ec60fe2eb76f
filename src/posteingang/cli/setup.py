"""`init`, `check-config` and `config-doc`: creating a data directory and checking a config.

`init` is all-or-nothing: every argument is validated before anything is
written, and if a later step fails, what this run created is removed again.
It must never overwrite an existing data directory without `--force`.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import sys
from pathlib import Path

import click

from posteingang.cli.common import (
    CONFIG_FILE_NAME,
    EXIT_USAGE,
    CliError,
    State,
    address,
    domain,
    generate_password,
    hash_credentials,
    missing_store,
    open_configured_store,
    pass_state,
    read_password_stdin,
    run_async,
)
from posteingang.cli.files import DIR_MODE, mode_problems, repair_modes
from posteingang.config import ConfigError, load_config, render_markdown, render_toml

DEFAULT_DOMAIN = "example.test"
DEFAULT_LOCAL_PART = "demo"


def _is_loopback_name(name: str) -> bool:
    return name == "localhost" or name.startswith(("localhost.", "localhost6", "ip6-"))


def machine_fqdn() -> str:
    """This machine's fully qualified name, for `init` without --hostname.

    `socket.getfqdn()` alone answers "localhost" wherever /etc/hosts lists the
    host name on a line after `127.0.0.1 localhost` (the reverse lookup finds
    "localhost" first). So the resolver's canonical name for the host name is
    asked first, then getfqdn(), and the bare host name is the last resort;
    a loopback name is taken only if nothing else is known.
    """
    hostname = socket.gethostname()
    candidates: list[str] = []
    try:
        for *_, canonical, _ in socket.getaddrinfo(hostname, None, flags=socket.AI_CANONNAME):
            if canonical:
                candidates.append(canonical)
    except OSError:
        pass
    candidates += [socket.getfqdn(hostname), hostname]
    named = [c for c in candidates if c and not _is_loopback_name(c.lower())]
    dotted = [c for c in named if "." in c.strip(".")]
    return (dotted or named or ["localhost"])[0]


@click.command()
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory to create: config file, store, message blobs, certificate.",
)
@click.option("--domain", "domain_name", help=f"First hosted domain [default: {DEFAULT_DOMAIN}].")
@click.option(
    "--user",
    "user_address",
    help=f"First account's address [default: {DEFAULT_LOCAL_PART}@DOMAIN].",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the first account's password from standard input instead of generating one.",
)
@click.option(
    "--hostname",
    help="The server's host name, for the config and the certificate "
    "[default: this machine's FQDN].",
)
@click.option(
    "--force",
    is_flag=True,
    help="Write into an existing data directory: replace its config file and certificate, "
    "keep its store, and reset the user's password if the user exists.",
)
def init(
    data_dir: Path,
    domain_name: str | None,
    user_address: str | None,
    password_stdin: bool,
    hostname: str | None,
    force: bool,
) -> None:
    """Create a data directory: config, certificate, first user.

    Without options this creates the demo domain example.test and the user
    demo@example.test, and prints the user's generated password once.
    """
    # Validate everything before writing anything.
    if user_address is not None:
        user = address(user_address)
        dom = domain(domain_name) if domain_name else user.rpartition("@")[2]
        if user.rpartition("@")[2] != dom:
            raise CliError(f"--user {user} is not in --domain {dom}", EXIT_USAGE)
    else:
        dom = domain(domain_name or DEFAULT_DOMAIN)
        user = address(f"{DEFAULT_LOCAL_PART}@{dom}")
    host = (hostname or machine_fqdn()).strip().rstrip(".").lower() or "localhost"
    if any(c.isspace() or c in "/\\\"'" for c in host):
        raise CliError(f"invalid host name: {hostname!r}", EXIT_USAGE)
    existed = data_dir.exists()
    if existed and any(data_dir.iterdir()) and not force:
        raise CliError(f"{data_dir} already exists and is not empty (use --force to reuse it)")
    password = read_password_stdin() if password_stdin else generate_password()

    data_dir = data_dir.absolute()
    config_path = data_dir / CONFIG_FILE_NAME
    written: list[Path] = []
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        data_dir.chmod(DIR_MODE)  # also an existing (--force) one: it will hold the store
        header = (
            f"posteingang configuration, written by `posteingang init` on "
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d}."
        )
        from posteingang.protocols import config_table
        from posteingang.runtime import SERVICES

        listeners = [config_table(d) for s in SERVICES for d in s.default_listeners]
        config_path.write_text(
            render_toml({"server": {"hostname": host}, "listener": listeners}, header=header),
            encoding="utf-8",
        )
        written.append(config_path)
        try:
            config = load_config(config_path)
        except ConfigError as e:  # pragma: no cover - our own template must load
            raise CliError(f"bad config: {e.summary()}", EXIT_USAGE) from None

        from posteingang.net.certs import default_names, write_self_signed

        cert = write_self_signed(
            config.tls.cert, config.tls.key, default_names(host), overwrite=force
        )
        written += [config.tls.cert, config.tls.key]
        credentials = hash_credentials(password)

        async def create() -> bool:
            store = await open_configured_store(config)
            try:
                if await store.get_domain(dom) is None:
                    await store.add_domain(dom)
                account = await store.get_account(user)
                if account is None:
                    await store.create_account(
                        user,
                        credentials.password_hash,
                        scram_sha256=credentials.scram_sha256,
                    )
                    return True
                await store.set_password(
                    account.id, credentials.password_hash, credentials.scram_sha256
                )
                return False
            finally:
                await store.close()

        created_user = run_async(create())
        # --force keeps what was there (a store, a config rewritten in place) with
        # whatever modes it had; the umask covers only what this run created.
        repair_modes(mode_problems(config))
    except BaseException as e:
        if not existed:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            for path in written:
                path.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise CliError(f"cannot initialise {data_dir}: {e.strerror or e}") from None
        raise

    out = click.echo
    out(f"Initialised {data_dir}")
    out(f"  config:      {config_path}")
    out(f"  certificate: {cert.cert_path} (self-signed for {', '.join(cert.names)})")
    out(f"  sha256:      {cert.sha256_fingerprint}")
    out(f"  domain:      {dom}")
    out(f"  user:        {user}" + ("" if created_user else " (existing; password reset)"))
    if not password_stdin:
        out(f"  password:    {password}")
        out("  (shown once; change it with `posteingang user passwd`)")
    out(f"Start the server with: posteingang --config {config_path} serve")


@click.command("check-config")
@pass_state
def check_config(state: State) -> None:
    """Validate the config file; list every problem.

    Each problem is printed with its key path, e.g. limits.max_message_size.

    Exit status 2 if there is any problem, 0 and "ok" otherwise.
    """
    from posteingang.cli.common import DEFAULT_CONFIG

    path = state.config_path or DEFAULT_CONFIG
    try:
        config = load_config(path)
    except ConfigError as e:
        for issue in e.issues:
            click.echo(f"{issue}", err=True)
        sys.exit(EXIT_USAGE)
    from posteingang.protocols import listener_problems

    problems = listener_problems(config)  # the very check `serve` makes
    missing = missing_store(config)
    if missing is not None:
        problems.append(f"server.data_dir: {missing}")
    for key, file in (("tls.cert", config.tls.cert), ("tls.key", config.tls.key)):
        if not file.is_file():
            problems.append(f"{key}: file not found: {file}")
    if problems:
        for line in problems:
            click.echo(line, err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"ok: {path}")


@click.command("config-doc")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to this file (e.g. docs/configuration.md) instead of standard output.",
)
def config_doc(output: Path | None) -> None:
    """Print the configuration reference as Markdown.

    Lists every setting with its type, default and meaning (docs/configuration.md).
    """
    text = render_markdown()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
