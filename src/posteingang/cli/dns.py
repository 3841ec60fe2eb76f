"""`dns-records`: the DNS records an operator publishes so mail programs find this server.

SRV records (RFC 6186, RFC 8314) for every hosted domain, or the ones named,
and the autoconfig/autodiscover host names, computed from the configured
listeners and host name (`web.autoconfig.dns_records`) and printed as zone-file
lines. It only reads the config and the store's domain list; it changes nothing.
"""

from __future__ import annotations

import click

from posteingang.cli.common import CliError, State, domain, pass_state, with_store
from posteingang.store.interface import Store


@click.command("dns-records")
@click.option(
    "--domain",
    "domains",
    multiple=True,
    help="A domain to print records for (repeatable) [default: every hosted domain].",
)
@pass_state
def dns_records_cmd(state: State, domains: tuple[str, ...]) -> None:
    """Print the SRV and CNAME records mail programs use to find this server."""
    from posteingang.web.autoconfig import dns_records, listener_view, mail_setup, zone_text

    config = state.config()
    names = [domain(d) for d in domains]
    if not names:

        async def hosted(store: Store) -> list[str]:
            return [d.name for d in await store.list_domains()]

        names = with_store(state, hosted)
    if not names:
        raise CliError("no hosted domains: add one with `posteingang domain add`")
    setup = mail_setup(config.server.hostname, [listener_view(s) for s in config.listener])
    click.echo(zone_text(dns_records(setup, names)), nl=False)
