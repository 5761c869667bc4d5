"""The `minqing` command line (typer). `--json` prints JSON on stdout only; logs go to stderr."""

import csv
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bot import cli_admin
from bot.cli_common import DbOption, JsonOption, err
from bot.cli_common import print_json as _print_json
from bot.cli_common import settings_for as _settings
from bot.cli_model import model_app
from bot.cli_ops import deadletters_app, file_held_posts
from bot.cli_units import units_app
from bot.dbcheck import OneLineErrors
from bot.settings import Settings
from bot.wechat.cli import wecom_app

if TYPE_CHECKING:
    from handlers.admin import Admin

app = typer.Typer(
    help="民情通 Minqingtong: community intake, routing, deadlines and digests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,  # issue 13: an unusable database is one line, not a traceback
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
households_app = typer.Typer(help="Household archive (一户一档).", no_args_is_help=True)
officers_app = typer.Typer(help="Grid officers, chiefs, leaders and admins.", no_args_is_help=True)
groups_app = typer.Typer(help="Chat groups and their communities.", no_args_is_help=True)
cases_app = typer.Typer(help="Cases (诉求).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(households_app, name="households")
app.add_typer(officers_app, name="officers")
app.add_typer(groups_app, name="groups")
app.add_typer(cases_app, name="cases")
app.add_typer(model_app, name="model")
app.add_typer(wecom_app, name="wecom")
# Issue 13: households import/list, street set, officers/groups list, cases list/show.
cli_admin.register(app=app, households=households_app, officers=officers_app, groups=groups_app, cases=cases_app)
app.add_typer(units_app, name="units")


app.add_typer(deadletters_app, name="deadletters")  # issue 16


@contextmanager
def _open_admin(db: str | None) -> Iterator["Admin"]:
    """Admin operations on a migrated database (no text analysis needed); closed when the command ends."""
    from bot.wiring import open_database
    from handlers.admin import Admin

    database = open_database(_settings(db))
    try:
        yield Admin(database)
    finally:
        database.dispose()


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more to stderr.")] = False,
    log_format: Annotated[
        str | None, typer.Option("--log-format", help="text or json (one JSON object per line; MINQING_LOG_FORMAT).")
    ] = None,
) -> None:
    from bot.health import configure_logging

    chosen = (log_format or Settings().log_format).lower()
    if chosen not in ("text", "json"):
        err.print(f"[red]--log-format must be text or json, not {chosen}[/red]")
        raise typer.Exit(2)
    configure_logging(verbose=verbose, log_format=chosen)


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Apply all migrations to the database."""
    from bot.dbcheck import check_database
    from storage.migrate import upgrade

    settings = _settings(db)
    check_database(settings.database_url, create=True)
    upgrade(settings.database_url)
    err.print(f"database is up to date: {settings.database_url}")


@officers_app.command("add")
def officers_add(
    name: Annotated[str, typer.Option("--name", help="Officer's name.")],
    role: Annotated[
        str, typer.Option("--role", help="grid_officer, grid_chief, community_leader, street_leader or admin.")
    ],
    scope: Annotated[str, typer.Option("--scope", help="Grid, community or street code.")],
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create an officer and print a one-time invite code for `/join`."""
    from handlers.admin import AdminError

    try:
        with _open_admin(db) as admin:
            officer, code = admin.add_officer(name=name, role=role, scope=scope, now=datetime.now(UTC))
    except AdminError as error:
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    if json_out:
        _print_json({"invite_code": code, "officer_id": officer.id, "role": role, "scope": scope})
    else:
        sys.stdout.write(f"{code}\n")
        err.print(f"invite code for {name} ({role}, {scope}); send it to them: /join {code} (valid 7 days, one use)")


@officers_app.command("deactivate")
def officers_deactivate(
    officer_id: Annotated[int, typer.Argument(help="The leaving officer's id.")],
    to: Annotated[int | None, typer.Option("--to", help="Id of the officer who takes their open cases.")] = None,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Deactivate an officer, handing their open cases to another (a case event for each)."""
    from handlers.handover import HandoverError, deactivate_officer

    try:
        with _open_admin(db) as admin:
            done = deactivate_officer(admin.db, officer_id=officer_id, to_id=to, now=datetime.now(UTC))
    except HandoverError as error:
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    if json_out:
        _print_json({"officer": done.officer, "to": done.to, "cases": done.codes})
    else:
        err.print(f"{done.officer} deactivated; {len(done.codes)} open cases handed to {done.to or 'nobody'}")


@groups_app.command("link")
def groups_link(
    platform: Annotated[str, typer.Option("--platform", help="telegram, wechat or wecom.")],
    chat_id: Annotated[str, typer.Option("--chat-id", help="The group's chat id on that platform.")],
    community: Annotated[str, typer.Option("--community", help="Community code.")],
    db: DbOption = None,
) -> None:
    """Link a chat group to a community, so posts there are filed for it."""
    from handlers.admin import AdminError

    try:
        with _open_admin(db) as admin:
            admin.link_group(platform=platform, chat_id=chat_id, community=community)
    except AdminError as error:
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    err.print(f"linked {platform} chat {chat_id} to community {community}")
    # Issue 16: posts made while the group was unlinked were kept; file them now.
    codes = file_held_posts(db, platform=platform, chat_id=chat_id)
    if codes:
        err.print(f"filed {len(codes)} posts made before the link: {', '.join(codes)}")


@cases_app.command("export")
def cases_export(
    out: Annotated[Path, typer.Option("--out", dir_okay=False, help="CSV to write.")],
    include_unconfirmed: Annotated[
        bool, typer.Option("--all", help="Also cases whose labels no officer confirmed (the model's guesses).")
    ] = False,
    db: DbOption = None,
) -> None:
    """Write posts with their officer-confirmed labels (text, category, intent, urgency, corrected) for
    `minqing model train --with-seed`."""
    written = corrected = 0
    with _open_admin(db) as admin, out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "category", "intent", "urgency", "corrected"])
        writer.writeheader()
        for row in admin.labelled_history(include_unconfirmed=include_unconfirmed):
            writer.writerow(row)
            written += 1
            corrected += row["corrected"] == "yes"
    err.print(f"wrote {written} posts ({corrected} with a corrected category) to {out}")


@app.command("classify")
def classify(
    model: Annotated[
        Path | None, typer.Option("--model", dir_okay=False, help="Model file (default: the shipped model).")
    ] = None,
    json_out: JsonOption = True,
) -> None:
    """Classify one post per line from stdin; write one JSON line per post."""
    from itertools import islice

    from analysis.analyzer import BATCH_SIZE, Analyzer
    from analysis.default_model import load_classifier
    from analysis.model import ModelError
    from analysis.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(_settings(None).taxonomy_path)
    try:
        analyzer = Analyzer(classifier=load_classifier(taxonomy, model), taxonomy=taxonomy)
    except ModelError as error:
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    # The batch path, streaming: a chunk of posts at a time (one at a time when someone is typing).
    posts = (line.rstrip("\n") for line in sys.stdin if line.strip())
    size = 1 if sys.stdin.isatty() else BATCH_SIZE
    while chunk := list(islice(posts, size)):
        for analysis in analyzer.analyze_many(chunk):
            _print_json(analysis.as_dict())
        sys.stdout.flush()


@app.command("run")
def run(
    platform: Annotated[str, typer.Option("--platform", help="telegram, wechat or wecom.")] = "telegram",
    framework: Annotated[str, typer.Option("--framework", help="ptb or aiogram (Telegram only).")] = "ptb",
    token: Annotated[
        str | None, typer.Option("--token", help="Bot token from @BotFather (default: MINQING_TOKEN).")
    ] = None,
    api_url: Annotated[
        str | None, typer.Option("--api-url", help="Bot API base; requests go to {URL}/bot{TOKEN}/{method}.")
    ] = None,
    webhook_url: Annotated[
        str | None, typer.Option("--webhook-url", help="Public HTTPS URL for webhook mode (default: polling).")
    ] = None,
    listen: Annotated[str | None, typer.Option("--listen", help="HOST:PORT the webhook server binds.")] = None,
    health: Annotated[
        str | None, typer.Option("--health", help="HOST:PORT for /healthz, /readyz, /metrics in polling mode.")
    ] = None,
    wechat_api_url: Annotated[
        str | None, typer.Option("--wechat-api-url", help="WeChat API base (default https://api.weixin.qq.com).")
    ] = None,
    wecom_api_url: Annotated[
        str | None, typer.Option("--wecom-api-url", help="WeCom API base (default https://qyapi.weixin.qq.com).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Run the bot with its scheduler until interrupted."""
    from bot.run import RunError, run_telegram, telegram_options

    if platform == "wechat":
        from bot.wechat.cli import run_wechat_command

        try:
            run_wechat_command(_settings(db), listen=listen, api_url=wechat_api_url)
        except ValueError as error:  # configuration: say what to set
            err.print(f"[red]{error}[/red]")
            raise typer.Exit(2) from error
        return
    if platform == "wecom":
        from bot.wechat.cli import parse_listen
        from bot.wecom.run import run_wecom, wecom_options

        wecom_settings = _settings(db)
        try:
            robot = wecom_options(wecom_settings, listen=parse_listen(listen, platform="wecom"), api_url=wecom_api_url)
        except ValueError as error:  # configuration: say what to set
            err.print(f"[red]{error}[/red]")
            raise typer.Exit(2) from error
        run_wecom(wecom_settings, robot)
        return
    if platform != "telegram":
        err.print(f"[red]--platform must be telegram, wechat or wecom, not {platform}[/red]")
        raise typer.Exit(2)
    settings = _settings(db)
    try:
        options = telegram_options(
            settings=settings, framework=framework, token=token, api_url=api_url, webhook_url=webhook_url,
            listen=listen, health=health,
        )  # fmt: skip
        run_telegram(settings, options)
    except RunError as error:
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error


@app.command("digest")
def digest(
    period: Annotated[str, typer.Option("--period", help="week, month or quarter.")] = "week",
    end: Annotated[
        str | None, typer.Option("--end", help="YYYY-MM-DD: the last complete period ending on or before this day.")
    ] = None,
    scope: Annotated[str | None, typer.Option("--scope", help="Only this community or street code.")] = None,
    chart_dir: Annotated[Path | None, typer.Option("--chart-dir", help="Also write each chart as a PNG here.")] = None,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Print the 民情分析 digest of every community and street now (nothing is stored or sent)."""
    from datetime import date

    from analysis.taxonomy import load_taxonomy
    from bot.wiring import build_digests, open_database
    from handlers.clock import SystemClock
    from handlers.digests import KINDS, period_ending_on, period_just_ended
    from schedules.jobs import chart_renderer

    if period not in KINDS:
        err.print(f"[red]--period must be one of {', '.join(KINDS)}[/red]")
        raise typer.Exit(2)
    settings = _settings(db)
    zone = settings.core().zone
    try:
        wanted = period_ending_on(period, date.fromisoformat(end), zone) if end else None
    except ValueError as error:
        err.print(f"[red]--end must be YYYY-MM-DD: {error}[/red]")
        raise typer.Exit(2) from error
    chosen = wanted or period_just_ended(period, datetime.now(UTC), zone)
    database = open_database(settings)
    digests = build_digests(settings, database, load_taxonomy(settings.taxonomy_path), SystemClock())
    try:
        previews = digests.preview(chosen, scope_code=scope)
    finally:
        database.dispose()
    # --chart-dir asks for charts even where the deployment sends none.
    draw = digests.chart or chart_renderer(digests.builder)
    results: list[dict[str, Any]] = []
    for preview in previews:
        if chart_dir is not None and not preview.figures.is_empty:
            png = draw(preview.figures)
            if png is not None:
                chart_dir.mkdir(parents=True, exist_ok=True)
                (chart_dir / f"{period}-{preview.scope.code}-{chosen.first_day}.png").write_bytes(png)
        results.append(
            {
                "scope": preview.scope.code,
                "scope_name": preview.scope.name,
                "messages": preview.messages,
                "figures": json.loads(preview.figures.to_json()),
            }
        )
    if scope and not results:
        err.print(f"[red]no community or street with code {scope!r}[/red]")
        raise typer.Exit(2)
    if json_out:
        _print_json(
            {
                "period": period,
                "start": chosen.start.isoformat(),
                "end": chosen.end.isoformat(),
                "label": chosen.label,
                "digests": results,
            }
        )
        return
    console = Console()
    for result in results:
        console.rule(f"{result['scope_name']} ({result['scope']})")
        console.print("\n\n".join(result["messages"]), markup=False, highlight=False)


@app.command("scheduler")
def scheduler(db: DbOption = None) -> None:
    """Run only the scheduler (digests, overdue alerts), for deployments that separate it from the bot."""
    import asyncio
    import signal

    from bot.wiring import build_app
    from schedules.scheduler import run_scheduler

    application = build_app(_settings(db))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        err.print(f"scheduler running in {application.settings.timezone}; Ctrl-C to stop")
        await run_scheduler(application, stop)

    try:
        asyncio.run(main())
    finally:
        application.db.dispose()


@app.command("demo")
def demo(db: DbOption = None, json_out: JsonOption = False) -> None:
    """Run a demo street through a simulated quarter (no token, no network)."""
    from bot.demo import run_demo

    with tempfile.TemporaryDirectory(prefix="minqing-demo-") as folder:
        url = db or f"sqlite:///{Path(folder) / 'demo.db'}"
        report = run_demo(url)
    if json_out:
        _print_json(report.as_dict())
        return
    _print_demo(report.as_dict())


def _print_demo(data: dict[str, Any]) -> None:
    console = Console()
    console.rule("民情通 demo · 梧桐街道 · 2026年第三季度（模拟）")
    labels = cli_admin.demo_labels()  # issue 13: Chinese names for the codes in the summary tables
    console.print(
        f"住户 {data['households']} 户 · 工作人员 {data['officers']} 名 · 绑定居民 {data['residents_bound']} 人 · "
        f"居民发言 {data['posts_sent']} 条 · 登记诉求 {data['cases']} 件 · "
        f"群聊闲谈未登记 {data['ignored_chatter']} 条 · 网格员更正类别 {data['categories_corrected']} 件"
    )
    register = data.get("register") or {}
    console.print(  # issue 13: visits and the exported register
        f"网格员走访 {data['visits']} 次（其中当场登记诉求 {data['visit_cases']} 件）· "
        f"每周走访提醒 {data['visit_lists']} 条 · 导出 {register.get('community', '')} 一居一册："
        f"{register.get('sheets', 0)} 个网格、{register.get('households', 0)} 户 · "
        f"随机抽样回访与知晓率调查 {data['surveys_asked']} 人，回答 {data['surveys_answered']} 人"
    )
    for title, key in (
        ("按类别", "cases_by_category"),
        ("按状态", "cases_by_status"),
        ("按网格", "cases_by_grid"),
        ("按紧急程度", "cases_by_urgency"),
        ("发出的消息", "messages_by_kind"),
    ):
        table = Table(title=title)
        table.add_column("")
        table.add_column("件数", justify="right")
        for name, count in data[key].items():
            table.add_row(labels.get(key, {}).get(str(name), str(name)), str(count))
        console.print(table)
    console.rule("回执示例")
    for ack in data["sample_acks"]:
        console.print(ack)
    console.rule("网格员收到的通知示例")
    for notice in data["sample_notifications"]:
        console.print(notice)
        console.print()
    _print_loop(console, data)
    _print_schedules(console, data)
    console.print(f"用时 {data['seconds']} 秒")


def _print_loop(console: Console, data: dict[str, Any]) -> None:
    """吹哨报到 in the demo: the loop's steps, cases per unit, a few of the texts."""
    from handlers.catalogue import EVENT_NAMES

    console.rule(f"吹哨报到 · {data['units']} 个部门和单位")
    steps = Table("环节", "次数", title="闭环各环节（案件事件）")
    for kind, count in data["loop_events"].items():
        steps.add_row(EVENT_NAMES.get(kind, kind), str(count))
    console.print(steps)
    per_unit = Table("单位", "吹哨件数", title="按单位")
    for name, count in data["whistled_by_unit"].items():
        per_unit.add_row(name, str(count))
    console.print(per_unit)
    for text in data["sample_loop"]:
        console.print(text, markup=False)
        console.print()


def _print_schedules(console: Console, data: dict[str, Any]) -> None:
    """The demo's alerts and digests: counts, samples, and the texts leaders would read."""
    names = {"first_reply": "首次回复", "resolution": "办结", "unit_accept": "单位报到", "unit_done": "单位办结",
             "unit_verify": "上门核实", "supervision": "督办单"}  # fmt: skip
    table = Table("超时提醒（时限/级别）", "条数", title="超时提醒与督办")
    for key, count in data["alerts_by_level"].items():
        kind, level = key.split("/")
        table.add_row(f"{names.get(kind, kind)} · 第{level}级", str(count))
    console.print(table)
    console.rule("超时提醒示例")
    for alert in data["sample_alerts"]:
        console.print(alert, markup=False)
        console.print()
    digests = Table("类型", "范围", "期间", "生成时间", "消息", "图表", title="民情分析")
    for item in data["digests"]:
        digests.add_row(
            cli_admin.demo_labels()["digest_kind"].get(item["kind"], item["kind"]),
            item["scope"],
            item["period"],
            item["produced_at"][:16],
            str(item["messages"]),
            "有" if item["has_chart"] else "—",
        )
    console.print(digests)
    # The full text of the last weekly digest of a community and of the street's quarterly one.
    shown = [d for d in data["digests"] if d["kind"] == "week" and d["scope"] != "ST01"][-1:]
    shown += [d for d in data["digests"] if d["kind"] == "quarter" and d["scope"] == "ST01"]
    for item in shown:
        console.rule(f"{item['scope']} · {item['period']}")
        console.print(item["text"], markup=False, highlight=False)


if __name__ == "__main__":  # pragma: no cover
    app()
