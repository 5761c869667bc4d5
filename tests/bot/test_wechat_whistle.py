"""吹哨报到 over the Official Account: the whole loop in Chinese words, through the fake WeChat client."""

import asyncio

from sqlmodel import col, select

from handlers import catalogue
from handlers.admin import Admin
from handlers.clock import FixedClock
from storage.models import Case, CaseEvent
from tests.support.wechat import OFFICER, RESIDENT, StartStack
from tests.support.wechat import stack_factory as stack_factory  # the fixture

LIAISON = "oUNIT_wx_000000000000000001"
PROPERTY = "桂花苑物业"


async def test_whistle_loop_in_chinese_words_and_the_resident_sees_only_the_outcome(
    stack_factory: StartStack, admin: Admin, clock: FixedClock
) -> None:
    stack = await stack_factory()
    wechat = stack.wechat
    _, invite = admin.add_officer(name="微信社区书记", role="community_leader", scope="GH", now=clock.now())
    await wechat.send_text(OFFICER, f"加入 {invite}")
    unit, unit_invite = admin.add_unit(name=PROPERTY, kind="property", scope="GH", now=clock.now())
    joined = await wechat.send_text(LIAISON, f"加入 {unit_invite}")
    assert joined.content is not None and "单位联络员" in joined.content
    await wechat.send_text(RESIDENT, "绑定 GH 1幢1单元101 1111")
    await wechat.send_text(RESIDENT, "1幢楼道里的垃圾堆了一个星期，物业一直不来清理")
    with stack.db.transaction() as session:
        code = session.exec(select(Case.code)).one()
    assert code is not None

    steps = [
        (OFFICER, f"吹哨 {code} {PROPERTY} 楼道保洁归物业，请今天安排"),
        (LIAISON, f"报到 {code}"),
        (LIAISON, f"退单 {code} 这栋楼的保洁外包给了别家"),
        (OFFICER, f"吹哨 {code} {unit.code} 合同写明楼道保洁由物业负责"),
        (LIAISON, f"报到 {code}"),
        (LIAISON, f"完成 {code} 已安排保洁清理干净"),
        (OFFICER, f"核实 {code} 现场看过，已清理干净"),
    ]
    answers = [await wechat.send_text(user, text) for user, text in steps]
    assert all(a.content and not a.content.startswith("抱歉") for a in answers), [a.content for a in answers]
    # A resident cannot take a step of the loop.
    refused = await wechat.send_text(RESIDENT, f"报到 {code}")
    assert refused.content is not None and refused.content.startswith("抱歉")

    # Officers' notices go out through the same API: wait for the resident's rating request itself.
    deadline = asyncio.get_running_loop().time() + 30
    while not any(s.to == RESIDENT and f"评价 {code} 满意" in s.text for s in stack.api.sent):
        assert asyncio.get_running_loop().time() < deadline, [s.text for s in stack.api.sent]
        await asyncio.sleep(0.05)
    rated = await wechat.send_text(RESIDENT, f"评价 {code} 满意")
    assert rated.content == catalogue.RATED.format(rating="满意")

    with stack.db.transaction() as session:
        case = session.exec(select(Case).where(Case.code == code)).one()
        kinds = [
            e.kind
            for e in session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(col(CaseEvent.id)))
        ]
    assert case.status == "closed"
    assert kinds == [
        "filed",
        "whistled",
        "accepted",
        "returned",
        "whistled",
        "accepted",
        "unit_done",
        "verified",
        "rated",
    ]
    # The unit's words and the whistle reasons stay among staff.
    to_resident = "\n".join(s.text for s in stack.api.sent if s.to == RESIDENT)
    for internal in ("外包给了别家", "楼道保洁归物业", "合同写明", "已安排保洁清理干净"):
        assert internal not in to_resident
