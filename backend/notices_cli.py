"""`nongbao notices`: send the SMS outbox (serve also does it in the background)."""

from __future__ import annotations

import json
import os
import socket

import click

from backend.config import get_settings


def sender_name() -> str:
    """Who claims a notice: this host and process, so two senders never share a claim."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


@click.group()
def notices() -> None:
    """SMS notices to residents."""


@notices.command("send")
@click.option("--json", "as_json", is_flag=True)
def notices_send(as_json: bool) -> None:
    """Queue the notices due today, send the outbox through the gateway, read receipts."""
    from backend.crypto import load_keyring
    from backend.db import engine_for, require_migrated
    from backend.policy import load_policy
    from backend.services import notices as service
    from backend.sms import SmsError, SmsGateway

    settings = get_settings()
    engine = engine_for(settings.effective_database_url)
    require_migrated(engine)
    try:
        gateway = SmsGateway.from_settings()
    except SmsError as exc:
        raise click.ClickException(str(exc)) from None
    result = service.run_once(
        engine,
        load_keyring(settings.effective_key_file, settings.master_key),
        load_policy(settings.policy_file),
        gateway,
        sender=sender_name(),
    )
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    planned = sum(result["planned"].values())
    quiet = " (quiet hours: nothing sent)" if result["quiet_hours"] else ""
    click.echo(
        f"queued {planned}, sent {result['sent']}, rejected {result['rejected']}, "
        f"to retry {result['retry_later']}, receipts {result['receipts']}{quiet}"
    )
