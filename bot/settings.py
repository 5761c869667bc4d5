"""Deployment settings from the environment (MINQING_*) and an optional .env file."""

from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from handlers.service import CoreSettings
from storage.db import DEFAULT_SQLITE_URL


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MINQING_", env_file=".env", extra="ignore")

    database_url: str = DEFAULT_SQLITE_URL
    timezone: str = "Asia/Shanghai"
    token: SecretStr | None = None
    bot_username: str = "minqing_bot"
    taxonomy_path: Path | None = None
    triage_threshold: float = 0.6

    def core(self) -> CoreSettings:
        return CoreSettings(
            zone=ZoneInfo(self.timezone), bot_username=self.bot_username, triage_threshold=self.triage_threshold
        )
