"""Deployment settings from the environment (MINQING_*) and an optional .env file."""

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from handlers.digests import DigestSettings
from handlers.service import CoreSettings
from handlers.surveys import SurveySettings
from handlers.unit_kinds import DEFAULT_UNIT_KINDS
from handlers.visits import DEFAULT_PLANS, parse_plans
from schedules.jobs import DEFAULT_CRONS, SURVEY_REMINDERS, SURVEYS, VISITS, ScheduleSettings
from storage.db import DEFAULT_SQLITE_URL


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MINQING_", env_file=".env", extra="ignore")

    database_url: str = DEFAULT_SQLITE_URL
    timezone: str = "Asia/Shanghai"
    token: SecretStr | None = None
    bot_username: str = "minqing_bot"
    taxonomy_path: Path | None = None
    #: A model file from `minqing model train`; None = the shipped default (built and cached at first use).
    model_path: Path | None = None
    triage_threshold: float = 0.6
    #: Issue 13: failed /bind or /join proofs an account may make per window (minutes) before a pause.
    attempt_limit: int = 5
    attempt_window_minutes: int = 30
    #: Issue 13: visit plans by household tag, in days ("*" = every household), and the weekly list's cron.
    visit_plans: str = DEFAULT_PLANS
    visits_cron: str = DEFAULT_CRONS[VISITS]
    #: Issue 13: shares sampled each month for 回访 (closed cases) and 知晓率 (proved residents), the cron
    #: lines, days before the one reminder, and the salt mixed into the seeds.
    survey_followup_share: float = 0.2
    survey_awareness_share: float = 0.05
    surveys_cron: str = DEFAULT_CRONS[SURVEYS]
    survey_reminders_cron: str = DEFAULT_CRONS[SURVEY_REMINDERS]
    survey_remind_after_days: int = 3
    survey_salt: str = "minqing"
    # Schedules (issue 5): crontab lines in ``timezone``; weekdays by name (mon-sun), never numbers.
    digest_week_cron: str = DEFAULT_CRONS["week"]
    digest_month_cron: str = DEFAULT_CRONS["month"]
    digest_quarter_cron: str = DEFAULT_CRONS["quarter"]
    overdue_cron: str = DEFAULT_CRONS["overdue"]
    #: The admin's daily notice of grids with nobody reachable and of failed messages (issue 16).
    ops_notice_cron: str = DEFAULT_CRONS["ops_notice"]
    #: Packs each day's cases for the digests ahead of the 08:00 runs ("" = let digests pack on demand).
    pack_days_cron: str = "30 3 * * *"
    #: Escalate to the grid chief / community leader after this fraction of the allowance past due.
    overdue_chief_after: float = 0.5
    overdue_leader_after: float = 1.0
    #: Grids and officers are ranked in digests only with at least this many closed or overdue cases.
    digest_min_sample: int = 5
    digest_charts: bool = True
    # WeChat Official Account (issue 6): the server token, AppID/AppSecret for the customer-service API,
    # and the EncodingAESKey (none: plain mode). WeCom group robots by name; the single URL is "default".
    wechat_token: SecretStr | None = None
    wechat_appid: str = ""
    wechat_secret: SecretStr | None = None
    wechat_aes_key: SecretStr | None = None
    #: Issue 16: accept unencrypted WeChat messages only when switched on (see README, WeChat: plain mode).
    wechat_plain_mode: bool = False
    # Issue 16: several processes share Telegram's rate windows through Redis (else the database).
    redis_url: str | None = None
    redis_prefix: str = "minqing"
    #: `--log-format json` (or MINQING_LOG_FORMAT=json): one JSON object per log line on stderr.
    log_format: str = "text"
    wecom_webhook_url: SecretStr | None = None
    wecom_robots: dict[str, SecretStr] = Field(default_factory=dict)
    # 吹哨报到 (issue 15): per unit kind, [sign-in hours, completion hours], as JSON, e.g.
    # MINQING_UNIT_DEADLINES='{"property": [2, 48]}'; the grid officer's on-site check (working hours);
    # days after which a resolved case nobody rated is closed as 未评价.
    unit_deadlines: dict[str, tuple[float, float]] = Field(default_factory=dict)
    unit_verify_hours: float = 24
    unrated_close_days: float = 7

    def schedule(self) -> ScheduleSettings:
        crons = {
            "week": self.digest_week_cron,
            "month": self.digest_month_cron,
            "quarter": self.digest_quarter_cron,
            "overdue": self.overdue_cron,
            VISITS: self.visits_cron,
            SURVEYS: self.surveys_cron,
            SURVEY_REMINDERS: self.survey_reminders_cron,
            "ops_notice": self.ops_notice_cron,
        }
        return ScheduleSettings(
            zone=ZoneInfo(self.timezone),
            crons={name: line for name, line in crons.items() if line.strip()},  # empty: job off
            chief_after=self.overdue_chief_after,
            leader_after=self.overdue_leader_after,
            digest=DigestSettings(min_sample=self.digest_min_sample),
            charts=self.digest_charts,
            pack_days_cron=self.pack_days_cron,
            visit_plans=self.visit_plans,
            surveys=self.survey_settings(),
            core=self.core(),
        )

    def core(self) -> CoreSettings:
        kinds = dict(DEFAULT_UNIT_KINDS)
        for code, (accept_hours, done_hours) in self.unit_deadlines.items():
            base = kinds.get(code) or DEFAULT_UNIT_KINDS["other"]
            accept, done = timedelta(hours=accept_hours), timedelta(hours=done_hours)
            kinds[code] = replace(base, code=code, accept=accept, done=done)
        return CoreSettings(
            zone=ZoneInfo(self.timezone),
            bot_username=self.bot_username,
            triage_threshold=self.triage_threshold,
            attempt_limit=self.attempt_limit,
            attempt_window=timedelta(minutes=self.attempt_window_minutes),
            visit_plans=self.visit_plans,
            unit_kinds=kinds,
            verify_allowance=timedelta(hours=self.unit_verify_hours),
            unrated_close_after=timedelta(days=self.unrated_close_days),
        )

    def survey_settings(self) -> SurveySettings:
        return SurveySettings(
            followup_share=self.survey_followup_share,
            awareness_share=self.survey_awareness_share,
            remind_after=timedelta(days=self.survey_remind_after_days),
            salt=self.survey_salt,
        )

    @field_validator("visit_plans")
    @classmethod
    def _plans_read(cls, value: str) -> str:
        parse_plans(value)  # ValueError says which plan is wrong
        return value
