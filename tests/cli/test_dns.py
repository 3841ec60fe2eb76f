"""dns-records: the SRV and CNAME records for the hosted domains, from the config."""

from __future__ import annotations

from .conftest import Cli, assert_one_line_error


def test_dns_records_for_every_hosted_domain(run: Cli) -> None:
    assert run("domain", "add", "second.test").exit_code == 0
    result = run("dns-records")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for domain in ("example.test", "second.test"):
        assert f"autoconfig.{domain}.\t3600\tIN\tCNAME\tmail.example.test." in lines
        assert f"autodiscover.{domain}.\t3600\tIN\tCNAME\tmail.example.test." in lines
        for service in ("imaps", "imap", "pop3s", "pop3", "submissions", "submission"):
            assert any(line.startswith(f"_{service}._tcp.{domain}.\t") for line in lines)
    # init's listeners: IMAP and POP3 with STARTTLS and implicit TLS; no submission port.
    assert "_submission._tcp.example.test.\t3600\tIN\tSRV\t0 0 0 ." in lines
    imap = next(line for line in lines if line.startswith("_imap._tcp.example.test."))
    assert imap.endswith(" mail.example.test.") and "\tSRV\t10 1 " in imap  # STARTTLS
    imaps = next(line for line in lines if line.startswith("_imaps._tcp.example.test."))
    assert "\tSRV\t0 1 " in imaps  # implicit TLS first (RFC 8314 §5.1)


def test_dns_records_for_one_domain(run: Cli) -> None:
    result = run("dns-records", "--domain", "Example.Test")
    assert result.exit_code == 0, result.output
    assert all(".example.test.\t" in line for line in result.stdout.splitlines())


def test_dns_records_bad_domain(run: Cli) -> None:
    assert_one_line_error(run("dns-records", "--domain", "not a domain"), 2)
