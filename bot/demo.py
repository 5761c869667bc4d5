"""`minqing demo`: a demo street run through the same paths the bots use, on a simulated clock."""

import csv
import io
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from sqlmodel import col, func, select

from bot.settings import Settings
from bot.wiring import App, build_app
from handlers.catalogue import SURVEY_REMINDER
from handlers.clock import FixedClock
from handlers.messages import CallbackQuery, IncomingMessage, OutgoingMessage
from handlers.overdue import AlertRecord
from schedules.jobs import DEFAULT_CRONS, OVERDUE, Jobs, ScheduleSettings, SimulatedSchedule
from storage.models import (
    Case,
    CaseEvent,
    ChatIdentity,
    Community,
    Dispatch,
    Grid,
    Officer,
    Outbox,
    Resident,
    Street,
    Unit,
)

STREET_START = datetime(2026, 7, 1, 0, 0, tzinfo=UTC)
QUARTER_DIGESTS_DUE = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
COMMUNITIES = {"GH": ("桂花社区", ("桂花苑", "丹桂里")), "WT": ("梧桐社区", ("梧桐小区", "新桥家园"))}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅建国志强秀珍海燕"
#: The street's departments (the taxonomy's owning offices) and outside units: (name, kind, scope).
UNITS = (
    ("桂花苑物业", "property", "GH"),
    ("梧桐小区物业", "property", "WT"),
    ("社区管理办公室", "department", "ST01"),
    ("社区平安办公室", "department", "ST01"),
    ("社区服务办公室", "department", "ST01"),
    ("社区自治办公室", "department", "ST01"),
    ("党政办公室", "department", "ST01"),
    ("城管中队", "city_management", "ST01"),
    ("梧桐派出所", "police", "ST01"),
    ("市场监管所", "market", "ST01"),
    ("供电所", "utility", "ST01"),
)
#: Staff-only words of the demo (a test checks none of them ever reaches a group).
DEMO_NOTES = ("已电话联系居民，约定明天上门", "该户为独居老人，注意回访", "与物业沟通过，对方答复本周处理")
DEMO_SUPERVISION = "请本周内办结并回复居民"


@dataclass(slots=True)
class DemoReport:
    households: int = 0
    officers: int = 0
    residents_bound: int = 0
    posts_sent: int = 0
    cases: int = 0
    ignored_chatter: int = 0
    #: Cases whose category an officer corrected with /category (the model guessed another).
    categories_corrected: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    by_grid: Counter[str] = field(default_factory=Counter)
    by_urgency: Counter[str] = field(default_factory=Counter)
    messages_by_kind: Counter[str] = field(default_factory=Counter)
    sample_acks: list[str] = field(default_factory=list)
    sample_notifications: list[str] = field(default_factory=list)
    #: Overdue alerts by "deadline kind/level", a few of their texts, and every digest produced.
    alerts_by_level: Counter[str] = field(default_factory=Counter)
    sample_alerts: list[str] = field(default_factory=list)
    digests: list[dict[str, Any]] = field(default_factory=list)
    # Issue 13: visits logged by officers, those filed as cases, weekly visit lists, the exported register.
    visits: int = 0
    visit_cases: int = 0
    visit_lists: int = 0
    register: dict[str, Any] = field(default_factory=dict)
    #: 回访 / 知晓率: people asked by the monthly random samples, and those who answered both questions.
    surveys_asked: int = 0
    surveys_answered: int = 0
    #: 吹哨报到 (issue 15): units, the loop's steps as case events, cases whistled per unit, a few texts.
    units: int = 0
    loop_events: Counter[str] = field(default_factory=Counter)
    whistled_by_unit: Counter[str] = field(default_factory=Counter)
    sample_loop: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "households": self.households,
            "officers": self.officers,
            "residents_bound": self.residents_bound,
            "posts_sent": self.posts_sent,
            "cases": self.cases,
            "ignored_chatter": self.ignored_chatter,
            "categories_corrected": self.categories_corrected,
            "cases_by_category": dict(self.by_category.most_common()),
            "cases_by_status": dict(self.by_status.most_common()),
            "cases_by_grid": dict(sorted(self.by_grid.items())),
            "cases_by_urgency": dict(self.by_urgency.most_common()),
            "messages_by_kind": dict(self.messages_by_kind.most_common()),
            "sample_acks": self.sample_acks,
            "sample_notifications": self.sample_notifications,
            "alerts_by_level": dict(sorted(self.alerts_by_level.items())),
            "sample_alerts": self.sample_alerts,
            "digests": self.digests,
            "visits": self.visits,
            "visit_cases": self.visit_cases,
            "visit_lists": self.visit_lists,
            "register": self.register,
            "surveys_asked": self.surveys_asked,
            "surveys_answered": self.surveys_answered,
            "units": self.units,
            "loop_events": dict(self.loop_events.most_common()),
            "whistled_by_unit": dict(self.whistled_by_unit.most_common()),
            "sample_loop": self.sample_loop,
            "seconds": round(self.seconds, 2),
        }


def demo_posts() -> list[dict[str, str]]:
    text = resources.files("bot").joinpath("data/demo_posts.csv").read_text(encoding="utf-8")
    return [row for row in csv.DictReader(io.StringIO(text)) if row.get("text", "").strip()]


def household_rows(rng: random.Random) -> list[dict[str, str]]:
    """About 900 households: 2 communities x 3 grids, 5 buildings a grid, 2 units, 6 floors x 2-3 rooms."""
    rows: list[dict[str, str]] = []
    for community in COMMUNITIES:
        building = 0
        for grid_no in range(1, 4):
            grid = f"{community}-{grid_no:02d}"
            for _ in range(5):
                building += 1
                for unit in (1, 2):
                    for floor in range(1, 7):
                        for door in range(1, 3 if (building + floor) % 3 else 4):
                            name = (
                                rng.choice(SURNAMES)
                                + rng.choice(GIVEN)
                                + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
                            )
                            rows.append(
                                {
                                    "community": community,
                                    "grid": grid,
                                    "building": str(building),
                                    "unit": str(unit),
                                    "room": f"{floor}{door:02d}",
                                    "head_name": name,
                                    "phone": f"13{rng.randrange(10**8, 10**9)}",
                                    "tags": rng.choice(["", "", "", "独居老人", "低保户", "残疾人", "新市民"]),
                                }
                            )
    return rows


class Demo:
    def __init__(self, app: App, clock: FixedClock, seed: int = 7) -> None:
        self.app = app
        self.clock = clock
        self.rng = random.Random(seed)
        self.report = DemoReport()
        self._message_id = 1000
        # The real jobs on the simulated clock: digests at their cron times, overdue checks hourly
        # (every minute would be 130,000 runs for a quarter; the ladder's steps are hours apart).
        schedule = ScheduleSettings(zone=app.core.settings.zone, crons={**DEFAULT_CRONS, OVERDUE: "0 * * * *"})
        jobs = Jobs(db=app.db, taxonomy=app.core.taxonomy, clock=clock, settings=schedule, digests=app.digests)
        self.schedule = SimulatedSchedule(jobs, clock)
        self._delivered = 0
        #: What each filed case is really about (the demo post's own label), for officers' corrections.
        self._true_category: dict[str, str] = {}
        #: 吹哨报到: unit code → its liaison's user id; cases with a unit: code → (reporter, unit code).
        self._unit_users: dict[str, str] = {}
        self._with_units: dict[str, tuple[str, str]] = {}

    def _next_id(self) -> str:
        self._message_id += 1
        return str(self._message_id)

    def say(
        self,
        *,
        chat_id: str,
        user_id: str,
        text: str,
        is_group: bool = False,
        mention: bool = False,
        user_name: str = "",
    ) -> list[str]:
        msg = IncomingMessage(
            platform="demo",
            chat_id=chat_id,
            user_id=user_id,
            message_id=self._next_id(),
            text=text,
            sent_at=self.clock.now(),
            is_group=is_group,
            user_name=user_name,
            mentions_bot=mention,
        )
        result = self.app.core.handle(msg)
        return result.case_codes

    def _bind_with_approval(self, user_id: str, where: str) -> None:
        """``/bind ADDRESS`` without digits, then the grid officer taps 同意 on the request (issue 13)."""
        msg = IncomingMessage(
            platform="demo", chat_id=user_id, user_id=user_id, message_id=self._next_id(),
            text=f"/bind {where}", sent_at=self.clock.now(), user_name=f"居民{user_id.rsplit('-', 1)[-1]}",
        )  # fmt: skip
        result = self.app.core.handle(msg)
        asks = [(m.chat_id, b.callback_data) for m in result.messages for row in m.buttons for b in row]
        for officer_chat, data in asks[:1]:
            self.app.core.handle_callback(
                CallbackQuery(
                    platform="demo", chat_id=officer_chat, user_id=officer_chat, query_id=self._next_id(), data=data
                )
            )

    def set_up_street(self) -> tuple[list[str], dict[str, list[str]]]:
        admin = self.app.admin
        households = household_rows(self.rng)
        self._households = households
        report = admin.import_households(households, now=self.clock.now())
        self.report.households = report.imported
        with self.app.db.transaction() as session:
            street = session.exec(select(Street)).one()
            street.name = "梧桐街道"
            for code, (name, _) in COMMUNITIES.items():
                community_row = session.exec(select(Community).where(Community.code == code)).one()
                community_row.name = name
        officers: dict[str, list[str]] = {}
        invites: list[tuple[str, str]] = []
        grid_codes = sorted(row["grid"] for row in {r["grid"]: r for r in households}.values())
        for grid in grid_codes:
            for role, label in (("grid_officer", "网格员"), ("grid_chief", "网格长")):
                name = self.rng.choice(SURNAMES) + label
                _, code = admin.add_officer(name=name, role=role, scope=grid, now=self.clock.now())
                invites.append((f"officer-{grid}-{role}", code))
                officers.setdefault(grid, []).append(f"officer-{grid}-{role}")
        for community in COMMUNITIES:
            _, code = admin.add_officer(
                name=f"{COMMUNITIES[community][0]}书记", role="community_leader", scope=community, now=self.clock.now()
            )
            invites.append((f"leader-{community}", code))
        _, code = admin.add_officer(name="街道主任", role="street_leader", scope="ST01", now=self.clock.now())
        invites.append(("leader-street", code))
        for user_id, code in invites:
            self.say(chat_id=user_id, user_id=user_id, text=f"/join {code}")
        self.report.officers = len(invites)
        self._set_up_units()
        for community in COMMUNITIES:
            admin.link_group(
                platform="demo",
                chat_id=f"group-{community}",
                community=community,
                title=f"{COMMUNITIES[community][0]}居民群",
            )
        # A third of the households have a resident who bound their chat account in private.
        residents: list[str] = []
        for index, row in enumerate(self.rng.sample(households, 300)):
            user_id = f"resident-{index}"
            variants = [
                f"{row['building']}幢{row['unit']}单元{row['room']}",
                f"{row['building']}栋{row['unit']}单元{row['room']}室",
                f"{row['building']}号楼{row['unit']}单元{row['room']}",
                f"{row['building']}-{row['unit']}-{row['room']}",
            ]
            where = f"{COMMUNITIES[row['community']][0]} {self.rng.choice(variants)}"
            if index % 10:  # proved with the last four digits of the phone on the household record
                self.say(chat_id=user_id, user_id=user_id, text=f"/bind {where} {row['phone'][-4:]}")
            else:  # no digits: the grid officer confirms with one tap
                self._bind_with_approval(user_id, where)
            residents.append(f"{row['community']}:{user_id}")
        with self.app.db.transaction() as session:  # proved members only (issue 13)
            self.report.residents_bound = session.exec(
                select(func.count()).select_from(Resident).where(col(Resident.verified_via) != "")
            ).one()
        return residents, officers

    def _set_up_units(self) -> None:
        """Departments and outside units; each liaison (and the property companies' heads) joins."""
        admin = self.app.admin
        for name, kind, scope in UNITS:
            unit, invite = admin.add_unit(name=name, kind=kind, scope=scope, now=self.clock.now())
            self.say(chat_id=f"unit-{unit.code}", user_id=f"unit-{unit.code}", text=f"/join {invite}")
            self._unit_users[unit.code] = f"unit-{unit.code}"
            if kind == "property":
                head = admin.unit_invite(unit=unit.code, head=True, name=f"{name}经理", now=self.clock.now())
                self.say(chat_id=f"head-{unit.code}", user_id=f"head-{unit.code}", text=f"/join {head}")
        self.report.units = len(UNITS)

    def ask(self, user_id: str, text: str) -> str:
        """A private command; the bot's first answer to it."""
        msg = IncomingMessage(
            platform="demo", chat_id=user_id, user_id=user_id, message_id=self._next_id(), text=text,
            sent_at=self.clock.now(),
        )  # fmt: skip
        result = self.app.core.handle(msg)
        return result.messages[0].text if result.messages else ""

    def run(self, days: int = 91) -> DemoReport:
        started = time.perf_counter()
        residents, _officers = self.set_up_street()
        posts = demo_posts()
        self.rng.shuffle(posts)
        per_day = max(1, len(posts) // days + 1)
        open_codes: list[tuple[str, str]] = []  # (code, reporter user id)
        strangers = 0
        for day in range(days):
            self._move_to(STREET_START + timedelta(days=day, hours=8))
            for _ in range(per_day):
                if not posts:
                    break
                row = posts.pop()
                self._move_to(self.clock.now() + timedelta(minutes=self.rng.randrange(20, 160)))
                if self.rng.random() < 0.8:
                    community, user_id = self.rng.choice(residents).split(":")
                else:
                    strangers += 1
                    community, user_id = self.rng.choice(list(COMMUNITIES)), f"stranger-{strangers}"
                where = self.rng.random()
                self.report.posts_sent += 1
                if where < 0.35:
                    codes = self.say(chat_id=user_id, user_id=user_id, text=row["text"])
                elif where < 0.7:
                    codes = self.say(
                        chat_id=f"group-{community}", user_id=user_id, text=row["text"], is_group=True, mention=True
                    )
                else:  # plain group message: filed only when triage calls it a matter
                    codes = self.say(chat_id=f"group-{community}", user_id=user_id, text=row["text"], is_group=True)
                    if not codes:
                        self.report.ignored_chatter += 1
                open_codes += [(code, user_id) for code in codes]
                self._true_category.update(dict.fromkeys(codes, row["category"]))
            self._move_to(STREET_START + timedelta(days=day, hours=17))
            open_codes = self._officers_work(open_codes)
            if self.clock.now().weekday() < 5:
                self._visit_round()
            self._units_work()
            self._deliver()
        # Into 1 October, past 08:00 Shanghai: September's monthly and the third quarter's digests.
        self._move_to(QUARTER_DIGESTS_DUE)
        self._deliver()
        self._collect()
        self._collect_schedules()
        self._export_register()
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _visit_round(self) -> None:
        """Each grid officer visits two households of their grid; now and then a visit finds a matter."""
        for grid in sorted({row["grid"] for row in self._households}):
            homes = [row for row in self._households if row["grid"] == grid]
            for row in self.rng.sample(homes, 2):
                found = self.rng.random() < 0.08
                note = "#诉求 楼道声控灯坏了，老人晚上下楼看不清" if found else "上门走访，了解家庭近况，无特殊情况"
                address = f"{row['building']}幢{row['unit']}单元{row['room']}"
                user = f"officer-{grid}-grid_officer"
                where = f"{COMMUNITIES[row['community']][0]} {address}"
                self.say(chat_id=user, user_id=user, text=f"/visit {where} {note}")
                self.report.visits += 1
                self.report.visit_cases += found

    def _export_register(self) -> None:
        """The first community's register (一居一册), written as the admin would export it."""
        import tempfile
        from pathlib import Path

        from bot.exports import write_register
        from handlers.household_file import community_register

        community = sorted(COMMUNITIES)[0]
        register = community_register(self.app.db, community)
        with tempfile.TemporaryDirectory(prefix="minqing-register-") as folder:
            rows = write_register(register, Path(folder) / f"{community}.xlsx", self.app.core.settings.zone)
        self.report.register = {"community": community, "sheets": len(register.grids), "households": rows}

    def _move_to(self, moment: datetime) -> None:
        """Advance the simulated clock, running every job that falls due on the way."""
        self.schedule.run_until(moment)
        self.clock.set(moment)

    def _collect_schedules(self) -> None:
        zone = self.app.core.settings.zone
        for job in self.schedule.fired:
            for item in job.result:
                if isinstance(item, AlertRecord):
                    self.report.alerts_by_level[f"{item.kind}/{item.level}"] += 1
                    heads = {text.split("】", 1)[0] for text in self.report.sample_loop}
                    if item.kind.startswith("unit_") and item.text.split("】", 1)[0] not in heads:
                        self.report.sample_loop.append(item.text)  # one of 提醒, 督办 and 上报 each
                    if len(self.report.sample_alerts) < 3 and item.level > len(self.report.sample_alerts):
                        self.report.sample_alerts.append(item.text)
                elif item.created:
                    self.report.digests.append(
                        {
                            "kind": item.kind,
                            "scope": item.scope_code,
                            "period": item.period_label,
                            "produced_at": job.at.astimezone(zone).isoformat(),
                            "messages": item.messages,
                            "has_chart": item.has_chart,
                            "text": "\n\n".join(item.parts),
                        }
                    )

    def _officers_work(self, open_codes: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Officers answer most cases within a day or two and resolve many; residents rate."""
        still_open: list[tuple[str, str]] = []
        for code, reporter in open_codes:
            case = self._case(code)
            if case is None or case.assignee_id is None:
                continue
            officer = self._officer_user(case)
            self._correct_category(officer, code, case.category)
            roll = self.rng.random()
            if roll < 0.45:
                self.say(
                    chat_id=officer, user_id=officer, text=f"/reply {code} 您好，已收到，我们明天上午安排人上门查看。"
                )
                still_open.append((code, reporter))
            elif roll < 0.8:
                self.say(chat_id=officer, user_id=officer, text=f"/resolve {code} 已协调相关单位处理完毕，请您确认。")
                score = self.rng.choices(["satisfied", "basically", "unsatisfied"], weights=[6, 3, 1])[0]
                self.app.core.handle_callback(
                    CallbackQuery(
                        platform="demo",
                        chat_id=reporter,
                        user_id=reporter,
                        query_id=self._next_id(),
                        data=f"rate:{code}:{score}",
                    )
                )
            elif roll < 0.88 and case.category != "other" and self._whistle(officer, code, reporter):
                continue
            elif roll < 0.85 and case.category == "other":
                self.say(
                    chat_id=officer, user_id=officer, text=f"/reject {code} 该事项不属于社区受理范围，已告知办理渠道。"
                )
            else:
                still_open.append((code, reporter))
            if self.rng.random() < 0.08:
                self.say(chat_id=officer, user_id=officer, text=f"/note {code} {self.rng.choice(DEMO_NOTES)}")
        return still_open

    def _whistle(self, officer: str, code: str, reporter: str) -> bool:
        """吹哨: the officer asks which unit the bot suggests and hands the case to it."""
        suggestion = self.ask(officer, f"/whistle {code}")
        marker = f"/whistle {code} "
        if marker not in suggestion:
            return False
        unit_code = suggestion.split(marker, 1)[1].split()[0]
        answer = self.ask(officer, f"/whistle {code} {unit_code} 请贵单位协助处理，居民反映较急")
        if not answer.startswith("已吹哨"):
            return False
        self._with_units[code] = (reporter, unit_code)
        if len(self.report.sample_loop) < 1:
            self.report.sample_loop.append(answer)
        return True

    def _units_work(self) -> None:
        """Each evening the units move their cases one step; grid officers verify what they finished."""
        leader = "leader-street"
        for code, (reporter, unit_code) in list(self._with_units.items()):
            case = self._case(code)
            if case is None:
                continue
            liaison, officer, roll = self._unit_users[unit_code], self._officer_user(case), self.rng.random()
            state = self._dispatch_state(case.id or 0)
            if state == "whistled" and roll < 0.15:
                continue  # signs in late: the unit ladder reminds it
            if state == "whistled" and roll < 0.25:
                self.ask(liaison, f"/return {code} 经核实不属于本单位职责，请另行交办")
                del self._with_units[code]
                self.say(chat_id=officer, user_id=officer, text=f"/resolve {code} 已由社区直接协调处理完毕。")
                continue
            if state == "whistled":
                self.ask(liaison, f"/accept {code}")
                if roll > 0.9:
                    self.ask(leader, f"/supervise {code} 2 {DEMO_SUPERVISION}")
            elif state == "accepted" and roll < 0.15:
                self.ask(liaison, f"/extend {code} 2 需要协调施工队，申请延期")
                chief = self._chief_of(case)
                if chief:
                    self.ask(chief, f"/grant {code}")
            elif state == "accepted":
                self.ask(liaison, f"/done {code} 已派人到现场处理完毕")
            elif state == "done" and roll < 0.15:
                self.ask(officer, f"/sendback {code} 上门查看仍未解决，请再处理")
            elif state == "done":
                answer = self.ask(officer, f"/verify {code} 已上门核实，问题已解决")
                del self._with_units[code]
                if len(self.report.sample_loop) < 2:
                    self.report.sample_loop.append(answer)
                if self.rng.random() < 0.7:  # the rest never rate: closed as 未评价 after a week
                    self.app.core.handle_callback(
                        CallbackQuery(
                            platform="demo", chat_id=reporter, user_id=reporter, query_id=self._next_id(),
                            data=f"rate:{code}:{self.rng.choice(['satisfied', 'satisfied', 'basically'])}",
                        )
                    )  # fmt: skip

    def _dispatch_state(self, case_id: int) -> str:
        with self.app.db.transaction() as session:
            dispatch = session.exec(
                select(Dispatch).where(Dispatch.case_id == case_id).order_by(col(Dispatch.id).desc())
            ).first()
            return dispatch.state if dispatch else ""

    def _chief_of(self, case: Case) -> str | None:
        with self.app.db.transaction() as session:
            chief = session.exec(
                select(ChatIdentity.user_id)
                .join(Officer, col(Officer.id) == ChatIdentity.officer_id)
                .where(Officer.grid_id == case.grid_id, Officer.role == "grid_chief")
            ).first()
            return chief

    def _correct_category(self, officer: str, code: str, filed_under: str) -> None:
        """An officer who sees the model filed a case under the wrong category corrects it (/category)."""
        truth = self._true_category.pop(code, filed_under)
        if truth == filed_under:
            return
        name = self.app.core.taxonomy.category(truth).name
        self.say(chat_id=officer, user_id=officer, text=f"/category {code} {name}")
        self.report.categories_corrected += 1

    def _case(self, code: str) -> Case | None:
        with self.app.db.transaction() as session:
            return session.exec(select(Case).where(Case.code == code)).first()

    def _officer_user(self, case: Case) -> str:
        with self.app.db.transaction() as session:
            identity = session.exec(select(ChatIdentity).where(ChatIdentity.officer_id == case.assignee_id)).first()
            return identity.user_id if identity else "nobody"

    def _deliver(self) -> None:
        """Stand-in for the platform: mark queued messages sent and keep a few samples."""
        questions: list[OutgoingMessage] = []
        with self.app.db.transaction() as session:
            pending = session.exec(select(Outbox).where(col(Outbox.sent_at).is_(None)).order_by(col(Outbox.id))).all()
            for row in pending:
                message = OutgoingMessage.from_json(row.payload)
                if any(b.callback_data.startswith("sv:") for r in message.buttons for b in r):
                    if not message.text.startswith(SURVEY_REMINDER):
                        self.report.surveys_asked += 1
                    questions.append(message)
                self.report.messages_by_kind[row.kind] += 1
                self.report.visit_lists += message.text.startswith("【走访提醒】")
                if row.kind == "ack" and len(self.report.sample_acks) < 5:
                    self.report.sample_acks.append(message.text)
                first_case_notices = not message.text.startswith("【绑定申请")
                if row.kind == "notify" and first_case_notices and len(self.report.sample_notifications) < 2:
                    self.report.sample_notifications.append(message.text)
                row.sent_at = self.clock.now()
                session.add(row)
        self._answer_surveys(questions)

    def _answer_surveys(self, questions: list[OutgoingMessage]) -> None:
        """Seven in ten residents answer a survey when it arrives (the rest may after the reminder)."""
        for message in questions:
            if self.rng.random() >= 0.7:
                continue
            for row in message.buttons:
                choice = row[0] if self.rng.random() < 0.8 else self.rng.choice(row)
                self.app.core.handle_callback(
                    CallbackQuery(
                        platform="demo", chat_id=message.chat_id, user_id=message.chat_id, query_id=self._next_id(),
                        data=choice.callback_data,
                    )
                )  # fmt: skip
            self.report.surveys_answered += 1

    def _collect(self) -> None:
        with self.app.db.transaction() as session:
            self.report.cases = session.exec(select(func.count()).select_from(Case)).one()
            for category, count in session.exec(select(Case.category, func.count()).group_by(Case.category)).all():
                self.report.by_category[category] = count
            for status, count in session.exec(select(Case.status, func.count()).group_by(Case.status)).all():
                self.report.by_status[status] = count
            for urgency, count in session.exec(select(Case.urgency, func.count()).group_by(Case.urgency)).all():
                self.report.by_urgency[urgency] = count
            for grid, count in session.exec(
                select(Grid.code, func.count()).join(Case, col(Case.grid_id) == Grid.id).group_by(Grid.code)
            ).all():
                self.report.by_grid[grid] = count
            loop_kinds = ("whistled", "accepted", "returned", "extension_asked", "extension_approved", "unit_done",
                          "sent_back", "verified", "note", "supervised", "unrated_closed")  # fmt: skip
            for kind, count in session.exec(
                select(CaseEvent.kind, func.count()).where(col(CaseEvent.kind).in_(loop_kinds)).group_by(CaseEvent.kind)
            ).all():
                self.report.loop_events[kind] = count
            for name, count in session.exec(
                select(Unit.name, func.count()).join(Dispatch, col(Dispatch.unit_id) == Unit.id).group_by(Unit.name)
            ).all():
                self.report.whistled_by_unit[name] = count
            unrouted = session.exec(select(func.count()).select_from(Case).where(col(Case.grid_id).is_(None))).one()
            if unrouted:
                self.report.by_grid["(未定网格)"] = unrouted


def run_demo(database_url: str) -> DemoReport:
    clock = FixedClock(STREET_START)
    app = build_app(Settings(database_url=database_url), clock=clock, create=True)
    try:
        return Demo(app, clock).run()
    finally:
        app.db.dispose()
