"""The backend's subcommands of `nongbao`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from backend import clock
from backend.config import get_settings

if TYPE_CHECKING:
    from rich.progress import TaskID

    from backend.crypto import Keyring
    from backend.services.context import Ctx


def _emit(as_json: bool, payload: dict, human: str) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False, default=str) if as_json else human)


@contextmanager
def service_ctx(actor_name: str = "cli") -> Iterator[Ctx]:
    from backend.crypto import load_keyring
    from backend.db import engine_for, require_migrated, session_scope
    from backend.ledger import ensure_fund_accounts
    from backend.policy import load_policy
    from backend.services.context import Actor, Ctx

    settings = get_settings()
    engine = engine_for(settings.effective_database_url)
    require_migrated(engine)
    with session_scope(engine) as session:
        ensure_fund_accounts(session)
        yield Ctx(
            session=session,
            policy=load_policy(settings.policy_file),
            keyring=load_keyring(settings.effective_key_file, settings.master_key),
            actor=Actor(kind="user", name=actor_name, role="admin"),
        )


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Run the backend with uvicorn."""
    import uvicorn

    from backend.db import engine_for, require_migrated

    settings = get_settings()
    require_migrated(engine_for(settings.effective_database_url))  # fail before binding the port
    trusted = forwarded_allow_ips(settings.trusted_proxies)
    uvicorn.run(
        "backend.main:app",
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted,
        # uvicorn kills a worker that does not answer its supervisor's ping within this time;
        # a certification's face work holds the interpreter for seconds on a busy 2-core
        # machine, which is slow, not hung (the default of 5 s killed such workers)
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
    )


WORKER_HEALTHCHECK_S = 60


def forwarded_allow_ips(trusted_proxies: str) -> str:
    """uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise: any local
    process could then pose as any client. It believes the configured proxies only (the
    same list the app's own client address reads, backend/api/deps.py), or nobody."""
    return ",".join(p.strip() for p in trusted_proxies.split(",") if p.strip())


@click.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Migrate the database named by NONGBAO_DATABASE_URL."""
    from backend.db import current_revision, engine_for, upgrade

    url = get_settings().effective_database_url
    upgrade(url, revision)
    click.echo(f"database at revision {current_revision(engine_for(url))}")


@db.command("current")
def db_current() -> None:
    """Show the database's migration revision."""
    from backend.db import current_revision, engine_for, head_revision

    rev = current_revision(engine_for(get_settings().effective_database_url))
    click.echo(f"current {rev or '(none)'}; head {head_revision()}")


@click.group()
def user() -> None:
    """Users of the backend."""


@user.command("add")
@click.argument("name")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["admin", "clerk", "reviewer", "field_worker", "auditor"]),
)
@click.option(
    "--village", "villages", multiple=True, help="village code (field workers); repeatable"
)
def user_add(name: str, role: str, villages: tuple[str, ...]) -> None:
    """Add a user; the password is read from standard input."""
    from backend.services import auth

    password = (
        click.prompt("password", hide_input=True, confirmation_prompt=True)
        if sys.stdin.isatty()
        else sys.stdin.readline().rstrip("\r\n")
    )
    with service_ctx() as ctx:
        auth.create_user(ctx.session, name, password, role, list(villages))
    click.echo(f"user {name} added with role {role}")


@user.command("unlock")
@click.argument("name")
def user_unlock(name: str) -> None:
    """Lift a user's sign-in lockout (after repeated failed sign-ins); audited."""
    from backend.services import audit, auth, login_limits

    with service_ctx() as ctx:
        if auth.find_user(ctx.session, name) is None:
            raise click.ClickException(f"no user named {name!r}")
        cleared = login_limits.unlock(ctx.session, name)
        audit.record(ctx, "user.unlock", name)
    click.echo(f"user {name} unlocked ({cleared} counted sign-in attempts cleared)")


@click.group()
def policy() -> None:
    """The county's policy timeline."""


@policy.command("show")
@click.option("--json", "as_json", is_flag=True)
def policy_show(as_json: bool) -> None:
    """Print the policy in force and its timeline."""
    from rich.console import Console
    from rich.table import Table

    from backend.money import yuan
    from backend.policy import load_policy

    p = load_policy(get_settings().policy_file)
    if as_json:
        click.echo(json.dumps(p.model_dump(mode="json", by_alias=True), ensure_ascii=False))
        return
    console = Console()
    console.print(
        f"[bold]{p.county}[/]  scheme start {p.scheme_start}  region {p.region_class}  pension age {p.pension_age}  divisor {p.account_divisor}"
    )
    sets = Table(
        "set",
        "effective",
        "tiers (yuan)",
        "subsidy (yuan)",
        "gov. inheritable",
        title="Contribution policy sets",
    )
    for s in p.sets:
        inherit = (
            f"deaths from {s.government_inheritable_deaths_from}"
            if s.government_inheritable_deaths_from
            else str(s.government_inheritable)
        )
        sets.add_row(
            s.name,
            str(s.effective),
            " ".join(yuan(t)[:-3] for t in s.tiers_fen),
            " ".join(f"{yuan(t)[:-3]}→{yuan(v)[:-3]}" for t, v in s.subsidy_fen.items()),
            inherit,
        )
    console.print(sets)
    mins = Table("from", "central minimum (yuan/month)", title="Basic pension")
    for m in p.central_minimum:
        mins.add_row(m.from_, yuan(m.fen))
    console.print(mins)
    rates = Table("year", "rate", title="Interest")
    for y, r in sorted(p.interest_rates.items()):
        rates.add_row(str(y), f"{r * 100:.2f}%")
    console.print(rates)


@click.group()
def ledger() -> None:
    """Ledger invariants."""


@ledger.command("check")
@click.option("--json", "as_json", is_flag=True)
def ledger_check(as_json: bool) -> None:
    """Verify every ledger invariant; exit 1 on any breach."""
    from backend import ledger as ledger_mod

    with service_ctx() as ctx:
        report = ledger_mod.check(ctx.session)
    payload = {"ok": report.ok, **report.__dict__}
    human = "\n".join(
        [
            f"accounts {report.accounts}, transfers {report.transfers}, debits {report.total_debits_fen} fen, credits {report.total_credits_fen} fen",
            f"returned by the bank {report.returned_fen} fen, re-issued {report.reissued_fen} fen, "
            f"settled to deceased holders' heirs {report.to_estate_fen} fen",
        ]
        + [f"BREACH: {b}" for b in report.breaches]
        + (["ledger OK"] if report.ok else [])
    )
    _emit(as_json, payload, human)
    if not report.ok:
        click.echo(f"nongbao: ledger check found {len(report.breaches)} breaches", err=True)
        sys.exit(1)


@click.group()
def interest() -> None:
    """Yearly interest runs."""


@interest.command("run")
@click.option("--year", required=True, type=int)
@click.option("--json", "as_json", is_flag=True)
def interest_run(year: int, as_json: bool) -> None:
    """Credit a year's interest (idempotent)."""
    from backend.services import audit
    from backend.services import interest as svc

    with service_ctx() as ctx:
        r = svc.run(ctx, year)
        audit.record(ctx, "cli interest run", str(year), after=r.__dict__)  # same transaction
    _emit(
        as_json,
        r.__dict__,
        f"interest {r.year}: {r.accounts} accounts, {r.total_fen} fen"
        + ("" if r.created else " (already run)"),
    )


@click.group(name="import")
def import_() -> None:
    """Imports."""


@import_.command("transfer-in")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--village", "village", required=True, help="the member's village code here")
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="the sending county's Ed25519 public key (PEM); default: a key this county knows",
)
@click.option("--json", "as_json", is_flag=True)
def import_transfer_in(path: Path, village: str, public_key: Path | None, as_json: bool) -> None:
    """Open a member's balances from another county's signed transfer document (JSON), once."""
    from backend.cli_bank import transfer_in

    out = transfer_in(path, village, public_key)
    _emit(as_json, out, f"{out['person_id']}: opened {out['total_fen']} fen ({out['document_id']})")


@import_.command("old-scheme")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def import_old_scheme(path: Path, as_json: bool) -> None:
    """Import old-scheme balances from CSV (id_number,name,balance_fen,as_of): all rows or none."""
    from backend.errors import DomainError
    from backend.services import audit, imports

    try:
        with service_ctx() as ctx:
            r = imports.old_scheme(ctx, path.read_bytes(), source=path.name)
            # the event commits with the postings, or not at all
            audit.record(ctx, "cli import old-scheme", path.name, after=r.__dict__)
    except DomainError as exc:
        first = (
            f" first: {exc.errors[0]['field']}: {exc.errors[0]['message']}" if exc.errors else ""
        )
        raise click.ClickException(f"{exc.detail}.{first}") from None
    _emit(
        as_json,
        r.__dict__,
        f"{r.rows} rows, {r.posted} posted, {r.already_posted} already there, {r.total_fen} fen",
    )


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--residents", default=10_000, show_default=True, type=int)
@click.option("--seed", default=2026, show_default=True, type=int)
@click.option(
    "--data-dir",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where the demo's database and keys live (default: NONGBAO_DATA_DIR or ./data)",
)
@click.option("--no-serve", is_flag=True, help="create the demo county and exit")
@click.option("--no-kiosk", is_flag=True, help="run the backend alone (no screen needed)")
def demo(
    host: str,
    port: int,
    residents: int,
    seed: int,
    data_dir: Path | None,
    no_serve: bool,
    no_kiosk: bool,
) -> None:
    """The demo county: build it once (or reuse it), then run the backend and the kiosk."""
    import os

    if data_dir is not None:
        # before anything reads the settings: the server below must see the same folder
        os.environ["NONGBAO_DATA_DIR"] = str(data_dir.resolve())
        get_settings.cache_clear()
    from backend.demo import build_demo, describe, start_kiosk

    click.echo("nongbao demo: preparing the demo county ...", err=True)
    info = build_demo(
        residents=residents,
        seed=seed,
        data_dir=data_dir,
        progress=lambda line: click.echo(f"  {line}", err=True),
    )
    base = f"http://{host}:{port}"
    click.echo(describe(info, base))
    if no_serve:
        return
    kiosk = None if no_kiosk else start_kiosk(base, info)
    try:
        assert serve.callback is not None  # a @click.command always has its function
        serve.callback(host=host, port=port, workers=1)
    finally:
        if kiosk is not None and kiosk.poll() is None:
            kiosk.terminate()


@click.group()
def payroll() -> None:
    """Monthly payroll."""


@payroll.command("run")
@click.option("--period", required=True, help="YYYY-MM")
@click.option(
    "--run-on",
    "run_on",
    default=None,
    help="payroll date YYYY-MM-DD (default: the policy's payroll day)",
)
@click.option(
    "--bank-file",
    "bank_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write the bank disbursement file here (the default bank's layout)",
)
@click.option("--json", "as_json", is_flag=True)
def payroll_run(period: str, run_on: str | None, bank_file: Path | None, as_json: bool) -> None:
    """Pay a month: each person once, however often it is run; a killed run resumes."""
    from datetime import date as _date

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from backend.db import engine_for, require_migrated
    from backend.errors import DomainError
    from backend.policy import load_policy
    from backend.services import payroll as svc
    from backend.services.context import Actor

    settings = get_settings()
    engine = engine_for(settings.effective_database_url)
    require_migrated(engine)
    try:
        day = _date.fromisoformat(run_on) if run_on else None
    except ValueError:
        raise click.ClickException(f"--run-on must be a date YYYY-MM-DD, got {run_on!r}") from None
    actor = Actor(kind="user", name="cli", role="admin")
    with Progress(
        TextColumn("payroll {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task(period, total=None)
        try:
            result = svc.run(
                engine,
                load_policy(settings.policy_file),
                actor,
                clock.today(),
                period,
                day,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        except DomainError as exc:
            raise click.ClickException(
                exc.errors[0]["message"] if exc.errors else exc.detail
            ) from None
    if bank_file:
        from backend.cli_bank import write_run_file

        try:
            write_run_file(result.run_id, bank_file, None)
        except click.ClickException as exc:
            raise click.ClickException(
                f"{exc.message}: approve it with `nongbao payroll approve {result.run_id} --by ADMIN`, "
                f"then `nongbao payroll bank-file {result.run_id} {bank_file}`"
            ) from None
    payload = {**result.__dict__, "run_on": result.run_on.isoformat()}
    _emit(
        as_json,
        payload,
        f"payroll {result.period} ({result.run_id}): paid {result.paid} people, {result.total_fen} fen; suspended {result.suspended}"
        + (" (resumed an interrupted run)" if result.resumed else ""),
    )


@payroll.command("approve")
@click.argument("run_id")
@click.option("--by", "by", required=True, help="the approving admin's user name")
def payroll_approve(run_id: str, by: str) -> None:
    """Release a prepared run to the bank: a second admin, not the one who prepared it (four
    eyes). The admin's password is read from standard input, so the command line names a
    person who proves it is them, as at the API."""
    from backend.db import engine_for, require_migrated, session_scope
    from backend.errors import DomainError
    from backend.services import audit, auth
    from backend.services import payroll as svc
    from backend.services.context import Actor

    password = (
        click.prompt(f"password of {by}", hide_input=True)
        if sys.stdin.isatty()
        else sys.stdin.readline().rstrip("\r\n")
    )
    engine = engine_for(get_settings().effective_database_url)
    require_migrated(engine)
    try:
        with session_scope(engine) as s:
            user = auth.authenticate(s, by, password)
            if user.role != "admin":
                raise click.ClickException(f"{by} is a {user.role}; an admin approves payroll runs")
            actor = Actor(kind="user", name=user.username, role=user.role)
            run = svc.approve(s, run_id, actor)
            after = {"run_id": run.id, "period": run.period, "approved_by": run.approved_by}
            audit.append(s, actor, "payroll.approve", run.id, after=after)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"payroll {run.period} ({run.id}) approved by {run.approved_by}")


@payroll.command("bank-file")
@click.argument("run_id")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--bank", "bank", default=None, help="agency bank code (policy/banks.toml)")
def payroll_bank_file(run_id: str, path: Path, bank: str | None) -> None:
    """Write the bank disbursement file of an approved run, in its bank's layout."""
    from backend.cli_bank import write_run_file

    write_run_file(run_id, path, bank)
    click.echo(f"bank file of {run_id} written to {path}")


# the archive's copy gets a progress bar from this many blobs on (fewer finish at once)
PROGRESS_FROM = 200


@contextmanager
def blob_progress(label: str, quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on standard error for long blob copies, started only once a copy turns
    out to be long and only on a terminal: --json output and cron logs stay clean."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        console=console,
    )
    task: list[TaskID] = []

    def update(done: int, total: int) -> None:
        if quiet or total < PROGRESS_FROM or not console.is_terminal:
            return
        if not task:
            bar.start()
            task.append(bar.add_task(label, total=total))
        bar.update(task[0], completed=done)

    try:
        yield update
    finally:
        if task:
            bar.stop()


def _keyring_or_none() -> tuple[Keyring | None, str]:
    """The county's keyring if there is one (never created here), and where it comes from."""
    from backend.crypto import KeyError_, load_keyring

    settings = get_settings()
    source = (
        "NONGBAO_MASTER_KEY"
        if settings.master_key
        else f"the key file {settings.effective_key_file}"
    )
    try:
        return load_keyring(settings.effective_key_file, settings.master_key, create=False), source
    except KeyError_:
        return None, source


def _archive_line(archive: dict | None, verb: str, keys_line: str | None = None) -> str:
    """The archive's part of the human output; `keys_line` replaces the list of keys."""
    if archive is None:
        return ""
    keys = ", ".join(
        f"{kid} (fingerprint {fp})" if fp else kid for kid, fp in archive["keys"].items()
    )
    line = f"\narchive: {archive['blobs']} stored files ({archive['bytes']} bytes) {verb} {archive['folder']}"
    if keys_line is not None:
        return f"{line}\n{keys_line}"
    return line + (f"; sealed with data key {keys}" if keys else "")


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def backup(path: Path, as_json: bool) -> None:
    """Back up the database to PATH (SQLite online backup, or pg_dump -Fc) and the document
    archive to PATH.archive/, with a manifest PATH.manifest.json. The keys are not included."""
    from backend import ops

    settings = get_settings()
    keyring, _ = _keyring_or_none()  # only to name the key's fingerprint in the manifest
    try:
        with blob_progress("archive", as_json) as progress:
            r = ops.backup(
                settings.effective_database_url,
                path,
                data_dir=settings.data_dir,
                keyring=keyring,
                progress=progress,
            )
    except ops.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    rows = sum(v for k, v in r.fingerprint.items() if k.startswith("rows:") and isinstance(v, int))
    _emit(
        as_json,
        r.__dict__,
        f"backup of the {r.database} database written to {r.path} ({r.bytes} bytes, {rows} rows, {r.seconds} s); manifest {ops.manifest_path(Path(r.path))}"
        + _archive_line(r.archive, "copied to")
        + (
            "\nthe keys are not in the backup: keep the key file's copies apart"
            if r.archive
            else ""
        ),
    )
    for warning in r.warnings:
        click.echo(f"nongbao: warning: {warning}", err=True)


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="do not ask: replace the current database and archive")
@click.option("--json", "as_json", is_flag=True)
def restore(path: Path, yes: bool, as_json: bool) -> None:
    """Replace the database and the document archive with the backup at PATH, after checking
    every stored file against the manifest and that the key file opens them."""
    from backend import ops

    settings = get_settings()
    url = settings.effective_database_url
    if not yes and not click.confirm(
        f"replace everything in {url.split('@')[-1]} and {settings.data_dir / 'archive'} with {path}?",
        default=False,
    ):
        raise click.ClickException("restore cancelled; nothing was changed")
    keyring, source = _keyring_or_none()
    try:
        with blob_progress("archive", as_json) as progress:
            r = ops.restore(
                url,
                path,
                data_dir=settings.data_dir,
                keyring=keyring,
                key_source=source,
                progress=progress,
            )
    except ops.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    verdict = {
        True: "matches the backup's manifest: every row and every fen is back",
        False: "DOES NOT match the manifest",
        None: "no manifest to check against",
    }[r.matches]
    _emit(
        as_json,
        r.__dict__,
        f"restored {r.path} into the {r.database} database ({r.seconds} s); {verdict}"
        + "".join(f"\n  {d}" for d in r.differences or [])
        + _archive_line(
            r.archive, "checked and restored into", r.archive["key_check"] if r.archive else None
        ),
    )
    for warning in r.warnings:
        click.echo(f"nongbao: warning: {warning}", err=True)
    if r.matches is False:
        sys.exit(1)
