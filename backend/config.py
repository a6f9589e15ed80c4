"""Settings from environment variables `NONGBAO_*` (and an optional `.env` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NONGBAO_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=PROJECT_ROOT / "data")
    # Empty means the embedded default: a SQLite file under data_dir.
    database_url: str = ""
    # Where the master key lives; NONGBAO_MASTER_KEY (base64, 32 bytes) overrides the file.
    key_file: Path | None = None
    master_key: str | None = None
    policy_file: Path | None = None
    token_ttl_minutes: int = 60
    # requests inside one worker at a time, the rest queue at the door (backend/api/admission.py)
    max_active_requests: int = 10
    max_body_bytes: int = 1_048_576
    max_upload_bytes: int = 12_582_912
    # Sign-in limits, counted in the database by every worker alike (docs/security-limits.md):
    # failed or in-flight attempts per client address and per account name in the last minute,
    # and a lockout of the account after `login_lockout_failures` failures within
    # `login_lockout_minutes` (until the window passes or an admin runs `nongbao user unlock`)
    login_attempts_per_minute: int = 10
    login_account_attempts_per_minute: int = 5
    login_lockout_failures: int = 10
    login_lockout_minutes: int = 15
    # certification submissions and kiosk resident sessions per device (or user) per minute
    device_requests_per_minute: int = 30
    # Addresses or networks (comma-separated, e.g. "10.0.0.5,10.1.0.0/16") of the reverse
    # proxies whose X-Forwarded-For is believed; empty (the default): nobody's, the peer
    # address is the client. `nongbao serve` hands the same list to uvicorn.
    trusted_proxies: str = ""
    # The audit sealer (docs/audit.md): every this many seconds each server process seals the
    # events appended since into a signed batch (0: off; `nongbao audit seal` still works).
    # Every signed head is also appended to this file (default: data/audit/heads.jsonl).
    audit_seal_seconds: float = 10.0
    audit_head_file: Path | None = None
    # The SMS gateway (backend/sms.py): its base URL (empty: no SMS is sent, notices wait in
    # the outbox), the API key we present, and the bearer token the gateway presents when it
    # posts delivery receipts to POST /api/v1/sms/receipts (empty: that route refuses all)
    sms_url: str = ""
    sms_key: str = ""
    sms_receipt_token: str = ""
    # The county's public address: receipts' QR codes hold `{public_url}/r/{code}`, which any
    # phone opens to check the receipt
    public_url: str = "https://nongbao.example"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'nongbao.sqlite3'}"

    @property
    def effective_key_file(self) -> Path:
        return self.key_file or self.data_dir / "keys" / "master.key"

    @property
    def effective_audit_head_file(self) -> Path:
        return self.audit_head_file or self.data_dir / "audit" / "heads.jsonl"


@lru_cache
def get_settings() -> Settings:
    return Settings()
