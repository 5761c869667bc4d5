"""Command-line pieces for WeChat: `minqing run --platform wechat` options and `minqing wecom link`."""

import sys
from typing import Annotated

import typer

from bot.settings import Settings
from handlers.clock import Clock
from handlers.messages import HandlerResult, IncomingMessage
from handlers.service import Minqing

wecom_app = typer.Typer(help="WeCom (企业微信) group robots for officers' and leaders' groups.", no_args_is_help=True)


def parse_listen(value: str | None, *, platform: str = "wechat") -> tuple[str, int]:
    if not value:
        raise ValueError(f"--listen HOST:PORT is required for --platform {platform} (its servers post to it)")
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--listen must be HOST:PORT, not {value!r}")
    return host.strip("[]"), int(port)


def run_wechat_command(settings: Settings, *, listen: str | None, api_url: str | None) -> None:
    """`minqing run --platform wechat`; raises ValueError (with what to fix) on bad configuration."""
    from bot.wechat.run import run_wechat, wechat_options

    run_wechat(settings, wechat_options(settings, listen=parse_listen(listen), api_url=api_url))


def link_robot(core: Minqing, *, robot: str, invite: str, clock: Clock) -> HandlerResult:
    """Make robot ``robot`` a chat identity of the officer the invite code belongs to (the core's /join)."""
    return core.handle(
        IncomingMessage(
            platform="wecom",
            chat_id=robot,
            user_id=robot,
            message_id=f"link:{invite.strip().upper()}",
            text=f"/join {invite.strip()}",
            sent_at=clock.now(),
            user_name=f"WeCom robot {robot}",
        )
    )


@wecom_app.command("link")
def link(
    robot: Annotated[str, typer.Option("--robot", help="Robot name: 'default' or a key of MINQING_WECOM_ROBOTS.")],
    invite: Annotated[str, typer.Option("--invite", help="An invite code from `minqing officers add`.")],
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: MINQING_DATABASE_URL).")] = None,
) -> None:
    """Send an officer's alerts and digests to a WeCom group robot as well."""
    from bot.wechat.run import DEFAULT_ROBOT
    from bot.wiring import build_app

    settings = Settings()
    if db:
        settings = settings.model_copy(update={"database_url": db})
    known = set(settings.wecom_robots) | ({DEFAULT_ROBOT} if settings.wecom_webhook_url else set())
    if robot not in known:
        sys.stderr.write(f"warning: no robot {robot!r} is configured yet (MINQING_WECOM_ROBOTS / _WEBHOOK_URL)\n")
    app = build_app(settings)
    try:
        result = link_robot(app.core, robot=robot, invite=invite, clock=app.core.clock)
    finally:
        app.db.dispose()
    text = result.messages[0].text if result.messages else "already linked"
    sys.stdout.write(text + "\n")
    if result.refused:
        raise typer.Exit(1)
