"""The Official Account endpoint over real HTTP on 127.0.0.1, with a fake WeChat on both sides."""

import asyncio

import pytest
from sqlmodel import select

from bot.settings import Settings
from bot.wechat.run import WeChatConfigError, wechat_options
from bot.wechat.wire import WireError, parse_xml
from handlers import catalogue
from handlers.admin import Admin
from handlers.clock import FixedClock
from storage.models import Case, ChatIdentity, InboundMessage, Outbox, Post
from tests.support.wechat import AES_KEY, APPID, OFFICER, RESIDENT, Stack, StartStack, count
from tests.support.wechat import stack_factory as stack_factory  # the fixture


async def test_url_verification_echoes_only_for_our_token(stack_factory: StartStack) -> None:
    stack: Stack = await stack_factory()
    good = await stack.wechat.verify("echo-4711")
    forged = await stack.wechat.verify("echo-4711", forge=True)
    assert (good.status, good.body) == (200, "echo-4711")
    assert forged.status == 403 and "echo-4711" not in forged.body


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe"])
async def test_resident_binds_and_posts_gets_case_code_in_a_passive_reply(
    stack_factory: StartStack, safe: bool
) -> None:
    stack: Stack = await stack_factory(safe=safe)
    bound = await stack.wechat.send_text(RESIDENT, "绑定 GH 1幢2单元502 1111")
    posted = await stack.wechat.send_text(RESIDENT, "3幢楼道灯坏了好几天了，晚上很黑")

    assert bound.content is not None and "绑定成功" in bound.content
    assert posted.to_user == RESIDENT and posted.content is not None
    with stack.db.transaction() as session:
        case = session.exec(select(Case)).one()
        identity = session.exec(select(ChatIdentity).where(ChatIdentity.user_id == RESIDENT)).one()
        rows = session.exec(select(Outbox).where(Outbox.platform == "wechat")).all()
    assert case.code is not None and case.code in posted.content
    assert case.household_id is not None and identity.resident_id is not None
    # Answered passively, so the outbox rows are marked sent and the customer-service API never saw them.
    await asyncio.sleep(0.3)
    assert rows and all(row.chat_id == RESIDENT for row in rows)
    with stack.db.transaction() as session:
        unsent = session.exec(select(Outbox).where(Outbox.platform == "wechat", Outbox.sent_at.is_(None))).all()  # type: ignore[union-attr]
    assert unsent == []
    assert stack.api.sent == []


async def test_same_msgid_three_times_files_one_case_and_repeats_the_reply(stack_factory: StartStack) -> None:
    stack: Stack = await stack_factory()
    xml = stack.wechat.message_xml(RESIDENT, "text", msg_id=6_500_000_000_000_000_001, Content="小区门口垃圾没人清理")
    answers = [await stack.wechat.post(xml) for _ in range(3)]

    assert count(stack.db, Case) == 1 and count(stack.db, Post) == 1
    assert stack.counting.calls == 1  # the retries joined the first run
    assert answers[0].content and "MQ-" in answers[0].content
    # WeChat only retries when it did not get the answer, so each retry gets the same passive reply.
    assert [a.content for a in answers[1:]] == [answers[0].content] * 2
    await asyncio.sleep(0.3)
    assert stack.api.sent == []


async def test_slow_handler_answers_success_at_once_and_replies_later_exactly_once(
    stack_factory: StartStack,
) -> None:
    handler_seconds = 3.0
    stack: Stack = await stack_factory(delay=handler_seconds, budget=0.2)
    xml = stack.wechat.message_xml(
        RESIDENT, "text", msg_id=6_500_000_000_000_000_002, Content="电梯又坏了，老人下不了楼"
    )
    # WeChat's three tries, overlapping while the first is still being handled.
    answers = await asyncio.gather(*(stack.wechat.post(xml) for _ in range(3)))

    assert all(a.is_success for a in answers), answers
    # Answered while the core was still busy (not a speed figure: a loaded CI machine may be slow).
    assert max(a.seconds for a in answers) < handler_seconds
    sent = await stack.api.wait_for(1)
    await asyncio.sleep(0.5)
    assert count(stack.db, Case) == 1 and stack.counting.calls == 1
    assert len(stack.api.sent) == 1 and sent[0].to == RESIDENT
    with stack.db.transaction() as session:
        code = session.exec(select(Case.code)).one()
    assert code is not None and code in sent[0].text


async def test_retry_after_the_reply_went_by_api_answers_success(stack_factory: StartStack) -> None:
    stack: Stack = await stack_factory(delay=0.5, budget=0.1)
    xml = stack.wechat.message_xml(RESIDENT, "text", msg_id=6_500_000_000_000_000_003, Content="楼上漏水到我家了")
    first = await stack.wechat.post(xml)
    await stack.api.wait_for(1)
    retry = await stack.wechat.post(xml)

    assert first.is_success and retry.is_success
    await asyncio.sleep(0.3)
    assert len(stack.api.sent) == 1 and count(stack.db, Case) == 1


async def test_failed_handler_apologises_and_a_retry_runs_again(stack_factory: StartStack) -> None:
    stack: Stack = await stack_factory(fail_first=1)
    xml = stack.wechat.message_xml(RESIDENT, "text", msg_id=6_500_000_000_000_000_004, Content="路灯不亮")
    failed = await stack.wechat.post(xml)
    retried = await stack.wechat.post(xml)

    assert failed.content == catalogue.SOMETHING_WENT_WRONG
    assert retried.content is not None and "MQ-" in retried.content
    assert stack.counting.calls == 2 and count(stack.db, Case) == 1


@pytest.mark.parametrize(
    ("safe", "tamper"),
    [
        (False, "signature"),
        (True, "signature"),
        (True, "msg_signature"),
        (True, "other_key"),
        (True, "other_appid"),
        (True, "plain_body"),
    ],
)
async def test_forged_or_undecryptable_messages_are_refused_before_the_database(
    stack_factory: StartStack, safe: bool, tamper: str
) -> None:
    stack: Stack = await stack_factory(safe=safe)
    xml = stack.wechat.message_xml(RESIDENT, "text", Content="/bind GH 1幢1单元101 1111")
    before = count(stack.db, InboundMessage)
    if tamper == "signature":
        answer = await stack.wechat.post(xml, forge=True)
    elif tamper == "msg_signature":
        answer = await stack.wechat.post(xml, forge_msg_signature=True)
    elif tamper == "other_key":
        answer = await stack.wechat.post(xml, seal_with=("A" * 43, APPID))
    elif tamper == "other_appid":
        answer = await stack.wechat.post(xml, seal_with=(AES_KEY, "wx_someone_else"))
    else:  # a plain message sent to a safe-mode endpoint, correctly signed
        answer = await stack.wechat.post(xml, raw_body=xml.encode())

    assert answer.status == (403 if "signature" in tamper else 400)
    assert stack.counting.calls == 0
    assert count(stack.db, InboundMessage) == before
    with stack.db.transaction() as session:
        assert session.exec(select(ChatIdentity).where(ChatIdentity.user_id == RESIDENT)).first() is None


async def test_malformed_oversize_and_unknown_messages_file_nothing(stack_factory: StartStack) -> None:
    stack: Stack = await stack_factory()
    before = count(stack.db, InboundMessage)
    malformed = await stack.wechat.post("", raw_body=b"<xml><ToUserName>gh</ToUserName")
    entity = await stack.wechat.post(
        "", raw_body=b'<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><FromUserName>&a;</FromUserName></xml>'
    )
    no_msgid = await stack.wechat.post(
        "",
        raw_body=f"<xml><ToUserName>gh</ToUserName><FromUserName>{RESIDENT}</FromUserName>"
        "<CreateTime>1795000000</CreateTime><MsgType>text</MsgType><Content>hi</Content></xml>".encode(),
    )
    oversize = await stack.wechat.send_text(RESIDENT, "楼道灯坏了" * 4000)
    video = await stack.wechat.post(stack.wechat.message_xml(RESIDENT, "video", MediaId="m1", ThumbMediaId="t1"))
    link = await stack.wechat.post(stack.wechat.message_xml(RESIDENT, "link", Title="x", Url="http://example.com"))

    assert (malformed.status, entity.status, no_msgid.status, oversize.status) == (400, 400, 400, 413)
    assert video.content == catalogue.WECHAT_UNSUPPORTED and link.content == catalogue.WECHAT_UNSUPPORTED
    assert stack.counting.calls == 0
    assert count(stack.db, InboundMessage) == before and count(stack.db, Post) == 0


async def test_voice_image_location_and_subscription(stack_factory: StartStack) -> None:
    stack: Stack = await stack_factory()
    wechat = stack.wechat
    welcome = await wechat.post(wechat.message_xml(RESIDENT, "event", Event="subscribe"))
    image = await wechat.post(wechat.message_xml(RESIDENT, "image", PicUrl="http://x/p.jpg", MediaId="IMG1"))
    place = "越城区X小区"
    location = await wechat.post(
        wechat.message_xml(RESIDENT, "location", Location_X="30.0", Location_Y="120.5", Scale="15", Label=place)
    )
    mute = await wechat.post(wechat.message_xml(RESIDENT, "voice", MediaId="V0", Format="amr"))
    voice = await wechat.post(
        wechat.message_xml(RESIDENT, "voice", MediaId="V1", Format="amr", Recognition="二幢门口的路灯坏了。")
    )
    unsubscribe = await wechat.post(wechat.message_xml(RESIDENT, "event", Event="unsubscribe"))

    assert welcome.content == catalogue.WELCOME_RESIDENT
    assert image.content == catalogue.PHOTO_NEEDS_TEXT
    assert location.content == catalogue.WECHAT_LOCATION.format(label=place)
    assert mute.content == catalogue.WECHAT_VOICE_UNRECOGNISED
    assert voice.content is not None and "MQ-" in voice.content
    assert unsubscribe.is_success
    with stack.db.transaction() as session:
        post = session.exec(select(Post)).one()
    assert post.text == "二幢门口的路灯坏了。" and '"voice"' in post.attachments


async def test_officer_works_in_chinese_words_and_resident_gets_api_messages(
    stack_factory: StartStack, admin: Admin, clock: FixedClock
) -> None:
    stack: Stack = await stack_factory()
    wechat = stack.wechat
    _, invite = admin.add_officer(name="微信社区书记", role="community_leader", scope="GH", now=clock.now())
    joined = await wechat.send_text(OFFICER, f"加入 {invite}")
    await wechat.send_text(RESIDENT, "绑定 GH 1幢1单元101 1111")
    filed = await wechat.send_text(RESIDENT, "1幢楼下的垃圾桶满了没人清")
    with stack.db.transaction() as session:
        code = session.exec(select(Case.code)).one()
    assert code is not None and filed.content is not None and code in filed.content

    refused = await wechat.send_text(RESIDENT, f"办结 {code} 我自己弄好了")
    replied = await wechat.send_text(OFFICER, f"回复 {code} 已通知保洁，今天下午清理")
    resolved = await wechat.send_text(OFFICER, f"办结 {code} 已清理完毕")
    sent = await stack.api.wait_for(2)
    rated = await wechat.send_text(RESIDENT, f"评价 {code} 满意")
    mine = await wechat.send_text(RESIDENT, "我的诉求")

    assert joined.content is not None and "微信社区书记" in joined.content
    assert refused.content == catalogue.NOT_ALLOWED.format(role=catalogue.ROLE_NAMES["resident"], command="/resolve")
    assert replied.content == catalogue.REPLY_SENT.format(code=code)
    assert resolved.content == catalogue.RESOLVED_OK.format(code=code)
    to_resident = [s.text for s in sent if s.to == RESIDENT]
    assert "已通知保洁" in to_resident[0]
    # The rating buttons become quick replies that send "评价 CODE 满意" back.
    assert f"msgmenucontent=评价 {code} 满意" in to_resident[1]
    assert rated.content == catalogue.RATED.format(rating="满意")
    assert mine.content is not None and code in mine.content
    with stack.db.transaction() as session:
        assert session.exec(select(Case.status)).one() == "closed"


# ---- Hardening (issue 16): replayed timestamps, DTDs in any encoding, out-of-range numbers, plain mode ----


@pytest.mark.parametrize("skew", [-30 * 86400, -301, 301], ids=["30-days-old", "just-too-old", "from-the-future"])
async def test_a_signed_request_outside_the_five_minute_window_is_refused(stack_factory: StartStack, skew: int) -> None:
    stack: Stack = await stack_factory()
    stack.wechat.skew = skew
    before = count(stack.db, InboundMessage)

    answer = await stack.wechat.send_text(RESIDENT, "小区门口垃圾没人清理")
    verify = await stack.wechat.verify("echo")

    assert answer.status == 403 and verify.status == 403
    assert count(stack.db, InboundMessage) == before


async def test_a_request_inside_the_window_is_accepted(stack_factory: StartStack) -> None:
    stack: Stack = await stack_factory()
    stack.wechat.skew = -240

    answer = await stack.wechat.send_text(RESIDENT, "小区门口垃圾没人清理")

    assert answer.status == 200 and count(stack.db, Case) == 1


def dtd_document(encoding: str) -> bytes:
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>'
        '<!DOCTYPE xml [<!ENTITY secret "LEAKED">]>'
        "<xml><ToUserName>gh</ToUserName><FromUserName>oX</FromUserName><CreateTime>1</CreateTime>"
        "<MsgType>text</MsgType><Content>&secret;</Content><MsgId>1</MsgId></xml>"
    )
    return text.encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-be", "utf-32"])
def test_a_dtd_is_refused_in_any_encoding(encoding: str) -> None:
    with pytest.raises(WireError):  # refused for its DTD, or (an encoding expat lacks) as unreadable
        parse_xml(dtd_document(encoding))


def test_a_utf16_document_without_a_dtd_is_read() -> None:
    body = '<?xml version="1.0" encoding="utf-16"?><xml><Content>你好</Content></xml>'.encode("utf-16")

    assert parse_xml(body) == {"Content": "你好"}


async def test_a_utf16_dtd_over_http_files_nothing(stack_factory: StartStack) -> None:
    stack: Stack = await stack_factory()

    answer = await stack.wechat.post("", raw_body=dtd_document("utf-16"))

    assert answer.status == 400 and count(stack.db, Case) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("CreateTime", "9" * 20), ("MsgId", "1" * 100), ("CreateTime", "١٢٣"), ("MsgId", "²")],
    ids=["20-digit-createtime", "100-digit-msgid", "arabic-indic-digits", "superscript-digit"],
)
async def test_out_of_range_numbers_are_a_400_not_a_500(stack_factory: StartStack, field: str, value: str) -> None:
    stack: Stack = await stack_factory()
    xml = stack.wechat.message_xml(RESIDENT, "text", msg_id=1, Content="路灯坏了")
    start, end = xml.index(f"<{field}>"), xml.index(f"</{field}>")
    forged = xml[:start] + f"<{field}>{value}" + xml[end:]
    before = count(stack.db, InboundMessage)

    answer = await stack.wechat.post(forged)

    assert answer.status == 400 and count(stack.db, InboundMessage) == before


async def test_a_twenty_digit_msgid_is_stored(stack_factory: StartStack) -> None:
    stack: Stack = await stack_factory()
    xml = stack.wechat.message_xml(RESIDENT, "text", msg_id=18_446_744_073_709_551_615, Content="路灯坏了")

    answer = await stack.wechat.post(xml)

    assert answer.status == 200 and count(stack.db, Case) == 1


def test_plain_mode_must_be_switched_on_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("TOKEN", "t"), ("APPID", "wx1"), ("SECRET", "s")):
        monkeypatch.setenv(f"MINQING_WECHAT_{name}", value)
    monkeypatch.delenv("MINQING_WECHAT_AES_KEY", raising=False)
    monkeypatch.delenv("MINQING_WECHAT_PLAIN_MODE", raising=False)

    with pytest.raises(WeChatConfigError, match="PLAIN_MODE"):
        wechat_options(Settings(), listen=("127.0.0.1", 0), api_url=None)
    monkeypatch.setenv("MINQING_WECHAT_PLAIN_MODE", "true")
    assert wechat_options(Settings(), listen=("127.0.0.1", 0), api_url=None).aes_key is None
