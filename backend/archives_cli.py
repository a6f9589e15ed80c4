"""`nongbao archives`: the document archives' retention disposal."""

from __future__ import annotations

import json
from datetime import datetime

import click

from backend import clock
from backend.config import get_settings


@click.group()
def archives() -> None:
    """Documents attached to persons (encrypted, content-addressed under DATA_DIR/archive)."""


@archives.command("dispose")
@click.option(
    "--today",
    "today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="the day to dispose as of (default: today)",
)
@click.option("--json", "as_json", is_flag=True)
def archives_dispose(today: datetime | None, as_json: bool) -> None:
    """Mark every document past its retention as disposed (its record stays) and remove
    stored content no document within retention still refers to. Audited."""
    from backend.cli import service_ctx
    from backend.services import archives as service

    on = today.date() if today is not None else clock.today()
    root = service.archive_root(get_settings().data_dir)
    with service_ctx("archives-dispose") as ctx:
        result = service.dispose_expired(ctx, root, on)
    body = {"as_of": on.isoformat(), **result.as_dict()}
    if as_json:
        click.echo(json.dumps(body))
    else:
        click.echo(
            f"as of {on}: {result.documents} document(s) disposed, "
            f"{result.blobs_removed} stored file(s) removed, "
            f"{result.blobs_kept} kept for documents still within retention"
        )
