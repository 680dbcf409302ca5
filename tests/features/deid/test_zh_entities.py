"""Chinese person names and addresses: the finders, the scanner and engine around them, the default policy."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from src.features.deid import zh_entities
from src.features.deid.engine import CompiledPolicy, Deidentifier
from src.features.deid.operators import OperatorRule, hash_value
from src.features.deid.recognizers import Scanner
from src.features.deid.service import DEFAULT_ENTITIES
from src.features.deid.zh_entities import SURNAMES, find_addresses, find_persons
from src.models.deid import Operator
from src.storage import Base, Store
from tests.conftest import ALICE_KEY, bearer

SECRET = bytes(range(32))
ALICE = bearer(ALICE_KEY)
MIGRATION = "3ec30d63f808"


def names(text: str) -> list[str]:
    return [text[f.start : f.end] for f in find_persons(text)]


def addresses(text: str) -> list[str]:
    return [text[f.start : f.end] for f in find_addresses(text)]


def policy(*types: str, operator: Operator = Operator.replace, **extra: object) -> CompiledPolicy:
    return CompiledPolicy.build(
        policy_id="p",
        rules={t: OperatorRule(operator) for t in types},
        allow_list=extra.get("allow_list", []),  # type: ignore[arg-type]
        dictionary=extra.get("dictionary", {}),  # type: ignore[arg-type]
        secret=SECRET,
    )


def run(text: str, operator: Operator = Operator.replace, *, seed: int | None = None, **extra: object) -> str:
    engine = Deidentifier(policy("PERSON", "ADDRESS", operator=operator, **extra), seed=seed)
    return engine.deidentify(text).text


# ---- names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("王小明今天没来上班", ["王小明"]),
        ("我叫李娜，想咨询一下退款。", ["李娜"]),
        ("张伟说他已经付过款了", ["张伟"]),
        ("欧阳修是宋代文学家", ["欧阳修"]),
        ("司马光砸缸的故事", ["司马光"]),
        ("刘德华唱歌", ["刘德华"]),
        ("王伟和李娜结婚了", ["王伟", "李娜"]),
        ("客户王芳反映订单没到", ["王芳"]),
        ("收件人：赵敏", ["赵敏"]),
        ("投保人为钱小宝", ["钱小宝"]),
        ("慕容雪：我想修改收货信息", ["慕容雪"]),
        # a title after the surname: the span is the name, the title stays
        ("这张桌子是王先生买的", ["王"]),
        ("请转告陈经理，会议改到十点", ["陈"]),
        ("刘德华先生到了", ["刘德华"]),
        ("司马先生的预约改到下周二", ["司马"]),
        ("王总说可以", ["王"]),
        ("老王说他明天不来了", ["王"]),
        ("老张和小刘今天都加班到十点", ["张", "刘"]),  # 老张 is in jieba's dictionary as a noun
        ("人事部的黄姐通知你面试", ["黄"]),
        # a role before it or a verb after it: a name may begin with an everyday word (范志, 王国)
        ("寄件人范志明，请勿折叠", ["范志明"]),
        ("王国强说他不想再等了", ["王国强"]),
        ("投诉人于洋表示将继续反映", ["于洋"]),
        ("学生温雅的家长来电", ["温雅"]),
        # a naming cue: what follows is a name even if it is also a word
        ("姓名：白雪；科室：眼科", ["白雪"]),
        ("跟进人：甘露", ["甘露"]),
        ("来电人自称常胜，要求查询余额", ["常胜"]),
        # the tagger reads a given name that is also a word (建军, 超然, 振华) after a surname
        ("病房里贺建军的家属要求谈话", ["贺建军"]),
        ("昨天的比赛中，雷振华打进了一球", ["雷振华"]),
        # a rare surname, with a role before it or a title after the name
        ("签收人訾晓红，已取件", ["訾晓红"]),
        ("訾文博同学获得了三等奖", ["訾文博"]),
        ("下一位，幸女士请进诊室", ["幸"]),
        # the tagger tags the surname alone as a name and the given name as a word of its own
        ("请余可欣、杜浩然、姜一鸣三位同学放学后留下", ["余可欣", "杜浩然", "姜一鸣"]),
        ("本次座谈会由潘立新主持", ["潘立新"]),
        # a compound surname before a name jieba knows, whatever its given name
        ("门神是秦琼和尉迟恭", ["秦琼", "尉迟恭"]),
        ("采购经理公孙羽已确认预算", ["公孙羽"]),
        ("客服小陈您好", ["陈"]),
        ("老毛家的狗半夜一直叫", ["毛"]),  # 老X家: the familiar name, not 毛家
        # a name before a list separator vouches for the next, down the list
        ("感谢冯晓婷、顾磊、庄海鸥的付出", ["冯晓婷", "顾磊", "庄海鸥"]),
        # more roles: 市民, 被告; 叫 names; a given name that is a word of its own after a role (海鸥)
        ("市民储建新昨日救起一名落水儿童", ["储建新"]),
        ("新来的实习生叫于洋", ["于洋"]),
        ("志愿者庄海鸥负责签到", ["庄海鸥"]),
        # the third given character is the name's when the word it would start is followed by another
        ("原告尚春梅诉被告牛立新民间借贷纠纷一案", ["尚春梅", "牛立新"]),
        # a compound surname and two characters jieba tags as a name, or with "said" after them
        ("司马南风说明天的例会改到十点", ["司马南风"]),
        # an everyday word that starts a clause and says something, or that the clause says is a person:
        # a time, adverb or verb after it and what only people do later, or 是 and a person at its end
        ("文静说她明天请假", ["文静"]),
        ("高峰今天请假了，他的工作暂由我接手", ["高峰"]),
        ("黎明去年就离职了", ["黎明"]),
        ("高兴是我们新来的同事，负责售后", ["高兴"]),
        ("甘露今天生日，我们准备下班后给她一个惊喜", ["甘露"]),  # 甘露 is a verb to jieba
        # a doubled given name where a role or the clause says a person
        ("钱多多在论坛上发帖问有没有人拼车", ["钱多多"]),
        ("投保人为钱多多", ["钱多多"]),
        # two given characters before a clear boundary outweigh the tagger's shorter name (晏子)
        ("昨晚晏子墨在群里发了个红包", ["晏子墨"]),
        # a given character that starts a three-character word stays out (一口气)
        ("面试官宓晨一口气问了我三道算法题", ["宓晨"]),
        # family, work and forum roles; a role with a colon; titles such as 教练; a vocative
        ("表哥郭靖宇在深圳做程序员", ["郭靖宇"]),
        ("爷爷孔繁荣今年八十岁了", ["孔繁荣"]),
        ("审批人：符正阳；抄送：廖佳琪、谭志勇", ["符正阳", "廖佳琪", "谭志勇"]),
        ("武教练说明天早上六点集合", ["武"]),
        ("楼主常乐你好，这个问题我也遇到过", ["常乐"]),
        ("新华社消息，章立群当选为主任", ["章立群"]),
        ("退款申请人邱少华提供的账户信息有误", ["邱少华"]),
        # 老X before more verbs; 老宋 is a time word to jieba
        ("我刚才跟老王聊了几句", ["王"]),
        ("老宋和老姜在公园里下棋", ["宋", "姜"]),
        # a compound surname and two given-name characters; a time word ends a word before a surname
        ("司马俊和诸葛文韬被分到了同一个项目组", ["司马俊", "诸葛文韬"]),
        ("今天王阿姨又给我们送了一锅饺子", ["王"]),
        ("秦奶奶把菜分给了邻居们", ["秦"]),
        # two given-name characters before a clear boundary, whatever the tagger reads (柯文/nz 杰/nr)
        ("柯文杰的新家离单位很近", ["柯文杰"]),
        ("主治医生是钟立衡，明天上午会来查房", ["钟立衡"]),
        # a speaker at the start of a chat line
        ("褚卫东：收到，我这边马上处理", ["褚卫东"]),
        ("蓝天宇：我的新号码是这个", ["蓝天宇"]),
        # more of what only people do (上学, 留言 further on)
        ("向阳今天没来上学，班长去他家看了看", ["向阳"]),
        # historical and public figures from the table
        ("李白的诗，杜甫的诗，苏轼的词", ["李白", "杜甫", "苏轼"]),
        ("历史课讲了张骞出使西域，林则徐虎门销烟", ["张骞", "林则徐"]),
    ],
)
def test_names_are_found_without_their_titles(text: str, expected: list[str]) -> None:
    assert names(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "国王说话了",
        "一张纸",
        "高速公路上车很多",
        "请张贴通知",
        "这张桌子很贵",
        "黄金价格上涨",
        "周末去哪",
        "马上就到",
        "他非常高兴",
        "林业局",
        "方法很好",
        "于是他走了",
        "同时白天江南",
        "金额是多少",
        "程序出错了",
        "石头文件安全",
        "常常去，许多人向前走",
        "陆地上钱包丢了",
        "我们的中文老师",
        "班主任来了",
        "王总是迟到",
        "阳光明媚",
        "小康社会",
        "张家界的风景真美",
        # words jieba's dictionary tags as names
        "感谢两位志愿者的辛勤付出",
        "超市里的李子今天特价",
        "大门漆成了朱红色",
        "江南的梅雨季节",
        "卫星和雷达都正常",
        # 老/小 and a surname that make a word
        "小米的手机卖完了",
        "小麦的价格涨了",
        # a rare surname's character with no role or title around it
        "成本太高了",
        "时间不够了",
        "明天再说",
        "全国各地",
        # a given name that is a time or a verb; a compound surname that is a word; a place
        "张明天来",
        "王立即回复了",
        "东方的太阳升起来了",
        "他是家里的长孙",
        "苏州市吴江区",
        "景德镇的瓷器",  # a city jieba tags as a name
        # a role that says something is no name; a word that says something mid-clause is none either
        "房东说下个月涨租",
        "他很高兴说不出话来",
        "阳光是每个员工的福利。",  # 是, but no person ends the clause
        "高峰期间加班很累",  # a person's predicate, but the word runs on (高峰期), or a noun or 的 follows
        "黄金周加班的人多",
        "安静的环境适合加班。",
        "高清视频已经发到群里了",
        "黄澄澄的稻谷堆满了晒场",  # a doubled character with nothing saying a person
        "记者从市卫健委获悉",  # an office's suffix after what reads like a name
        # a list separator after a word that is no name vouches for nothing
        "黄金、白银和高速公路",
    ],
)
def test_words_that_start_with_a_surname_are_not_names(text: str) -> None:
    assert names(text) == []


def test_the_tagger_only_reads_a_few_characters_around_a_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    windows: list[str] = []
    tag = zh_entities._tagged_name_length

    def recording(window: str, surname_length: int) -> int:
        windows.append(window)
        return tag(window, surname_length)

    monkeypatch.setattr(zh_entities, "_tagged_name_length", recording)
    text = "我和郑浩一起来店里办卡，这张桌子很贵，黄金价格上涨。" * 50
    assert names(text) == ["郑浩"] * 50
    assert windows and max(len(window) for window in windows) <= 6


# ---- addresses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "上海市浦东新区世纪大道100号8楼",
        "北京市海淀区中关村大街27号",
        "广州市天河区体育西路103号维多利广场B座2501室",
        "杭州市西湖区文三路478号",
        "上海市长宁区愚园路1000弄5号601室",
        "成都市武侯区人民南路四段27号",
        "江苏省南京市鼓楼区中山北路30号",
        "阳光花园3栋2单元501室",
        "萧山区市心中路818号",
        "广东省深圳市南山区",
        "北京市海淀区",
        "北京市西城区西四北三条21号",  # a numbered hutong
        "海淀区中关村大街27号中关村大厦10层1001",  # a room number after a floor
        "东莞市南城区鸿福路200号第一国际B座1506室",  # a tower without a complex suffix
        "江西省景德镇市珠山区珠山中路40号",  # a city whose name holds a division's suffix (镇)
        "吉林省延边朝鲜族自治州延吉市光明街88号",  # prefectures named after their peoples
        "贵州省黔东南苗族侗族自治州凯里市营盘东路19号",
        "成都市青羊区宽巷子11号",  # 巷子, a lane
        "浙江省嘉兴市桐乡市乌镇镇石佛南路18号",  # a county-level city holding 乡, a town named 乌镇
        "广州市海珠区新港东路1068号中洲中心北塔22层",  # a tower named by its direction
        "广东省佛山市南海区桂城街道南海大道北36号",  # a direction between the road and its number
        "贵州省贵阳市南明区花果园R2区4栋2单元1708室",  # a lettered part of a complex
        "阳光100小区12幢3单元502室",  # a number inside the complex's name
        "成都市高新区天府三街199号太平洋保险金融大厦A区17楼",  # a zone of a building
    ],
)
def test_addresses_are_found_whole(address: str) -> None:
    assert addresses(f"地址：{address}，到了联系我。") == [address]


@pytest.mark.parametrize(
    "text",
    [
        "我去上海市出差",
        "北京",
        "上海市区的房价很高",
        "海淀区的房价",
        "广东省深圳市",  # province and city, no district: still a region, not an address
        "深圳市长说",
        "会议在8楼会议室",
        "地点在三楼",
        "我不知道3号能不能到",
        "订单号12345，价格是100.5元",
    ],
)
def test_cities_floors_and_numbers_alone_are_not_addresses(text: str) -> None:
    assert addresses(text) == []


def test_a_courtyard_after_the_house_number_is_not_part_of_the_address() -> None:
    assert addresses("北京市西城区西四北三条21号院子里有棵老槐树") == ["北京市西城区西四北三条21号"]
    assert addresses("北京市东城区帅府园1号院3号楼") == ["北京市东城区帅府园1号院3号楼"]


def test_an_address_after_送至_starts_after_it() -> None:
    assert addresses("订单改送至碧桂园凤凰城8栋2单元1103，麻烦送上楼") == ["碧桂园凤凰城8栋2单元1103"]


def test_upstairs_after_a_room_is_not_part_of_the_address() -> None:
    assert addresses("阳光花园3期18栋1单元701楼上漏水") == ["阳光花园3期18栋1单元701"]
    assert addresses("阳光花园3期18栋1单元701楼") == ["阳光花园3期18栋1单元701楼"]


def test_a_name_inside_an_address_is_part_of_the_address() -> None:
    text = "寄到上海市浦东新区张江路100号，收件人张伟"
    found = [(f.type, text[f.start : f.end]) for f in Scanner(["PERSON", "ADDRESS"]).scan(text)]
    assert found == [("ADDRESS", "上海市浦东新区张江路100号"), ("PERSON", "张伟")]


def test_the_scanner_finds_only_the_enabled_types() -> None:
    text = "我叫李娜，住在北京市海淀区中关村大街27号，电话13812345678"
    assert [f.type for f in Scanner(["PHONE"]).scan(text)] == ["PHONE"]
    assert [f.type for f in Scanner(["PERSON"]).scan(text)] == ["PERSON"]
    assert [f.type for f in Scanner(["ADDRESS"]).scan(text)] == ["ADDRESS"]
    assert Scanner(["PERSON", "ADDRESS"]).scan("Wang Xiaoming, 27 Zhongguancun Street") == []


# ---- the engine and the API ----------------------------------------------------------


def test_the_issue_examples_through_the_api(client: TestClient) -> None:
    texts = ["我叫李娜，住在北京市海淀区中关村大街27号。", "这张桌子是王先生买的"]
    response = client.post("/v1/deidentify:test", json={"text": texts}, headers=ALICE)
    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert first["text"] == "我叫<PERSON_1>，住在<ADDRESS_1>。"
    assert [(e["type"], e["start"], e["end"]) for e in first["entities"]] == [
        ("PERSON", 2, 4),
        ("ADDRESS", 7, 21),
    ]
    assert second["text"] == "这张桌子是<PERSON_2>先生买的"


def test_offsets_stay_right_across_a_batch() -> None:
    texts = ["王小明来了", "no names here", "住在杭州市西湖区文三路478号的李娜"]
    results = Deidentifier(policy("PERSON", "ADDRESS")).deidentify_many(texts)
    found = [
        [(e.type, text[e.start : e.end]) for e in r.entities] for text, r in zip(texts, results, strict=True)
    ]
    assert found == [[("PERSON", "王小明")], [], [("ADDRESS", "杭州市西湖区文三路478号"), ("PERSON", "李娜")]]


def test_a_dictionary_adds_names_and_the_recognizer_keeps_working() -> None:
    out = run("阿强和王小明去了阿里巴巴", dictionary={"PERSON": ["阿强"], "ADDRESS": ["阿里巴巴"]})
    assert out == "<PERSON_1>和<PERSON_2>去了<ADDRESS_1>"


def test_the_allow_list_keeps_a_name_or_an_address_the_recognizer_found() -> None:
    text = "王小明和李娜在杭州市西湖区文三路478号"
    out = run(text, allow_list=["王小明", "杭州市西湖区文三路478号"])
    assert out == "王小明和<PERSON_1>在杭州市西湖区文三路478号"


def test_a_policy_may_define_person_and_address_terms(client: TestClient) -> None:
    body = {
        "name": "names",
        "entities": {"PERSON": {"operator": "replace"}},
        "dictionary": {"PERSON": ["阿强"], "ADDRESS": ["老地方"]},
    }
    created = client.post("/v1/deid/policies", json=body, headers=ALICE)
    assert created.status_code == 201, created.text
    response = client.post(
        "/v1/deidentify:test",
        json={"policy_id": created.json()["id"], "text": ["阿强和王小明在老地方见"]},
        headers=ALICE,
    )
    assert response.json()["results"][0]["text"] == "<PERSON_1>和<PERSON_2>在<ADDRESS_1>见"


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        (Operator.mask, "王**和欧*先生住在杭州市西湖区*******"),
        (Operator.redact, "和先生住在"),
        (Operator.keep, "王小明和欧阳先生住在杭州市西湖区文三路478号"),
        (
            Operator.hash,
            f"{hash_value(SECRET, 'PERSON', '王小明')}和{hash_value(SECRET, 'PERSON', '欧阳')}先生住在"
            f"{hash_value(SECRET, 'ADDRESS', '杭州市西湖区文三路478号')}",
        ),
    ],
)
def test_each_operator_on_names_and_addresses(operator: Operator, expected: str) -> None:
    assert run("王小明和欧阳先生住在杭州市西湖区文三路478号", operator) == expected


def test_a_masked_address_keeps_its_divisions_unless_it_is_nothing_else() -> None:
    assert run("寄到上海市浦东新区世纪大道100号8楼", Operator.mask) == "寄到上海市浦东新区**********"
    assert run("寄到广东省深圳市南山区", Operator.mask) == "寄到广********"


def test_pseudonyms_are_plausible_and_repeat_per_value_and_seed() -> None:
    text = "王小明和李娜，王小明的朋友王先生，住在杭州市西湖区文三路478号"
    out = run(text, Operator.pseudonymize, seed=7)
    surname, given = f"[{SURNAMES}]", "[\u4e00-\u9fff]"
    pattern = (
        f"({surname}{given}{{2}})和({surname}{given})，\\1的朋友({surname})先生，"
        r"住在(?:北京|上海|广州|深圳|杭州|南京|成都|武汉)市..区..(?:路|街|大道)\d{1,3}号"
    )
    match = re.fullmatch(pattern, out)
    assert match, out
    assert match.group(1) != "王小明" and match.group(2) != "李娜"
    assert run(text, Operator.pseudonymize, seed=7) == out
    assert run(text, Operator.pseudonymize, seed=8) != out


# ---- the default policy ----------------------------------------------------------------


def test_the_default_policy_lists_person_and_address() -> None:
    assert DEFAULT_ENTITIES["PERSON"] == DEFAULT_ENTITIES["ADDRESS"] == {"operator": "replace"}


def test_an_existing_default_policy_gets_person_and_address(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'migration.db'}", pool_size=2)
    table = Base.metadata.tables["deid_policy"]
    now = datetime(2026, 11, 30, tzinfo=UTC)
    old_types = {name: {"operator": "replace"} for name in ("PHONE", "EMAIL")}
    try:
        store.upgrade("e8a1c3d5f702")
        with store.engine.begin() as connection:
            for policy_id, entities in (("default", old_types), ("custom", {"PHONE": {"operator": "mask"}})):
                connection.execute(
                    insert(table).values(
                        id=policy_id,
                        owner=None if policy_id == "default" else "alice",
                        name=policy_id,
                        entities=entities,
                        allow_list=[],
                        dictionary={},
                        secret="00" * 32,
                        created_at=now,
                        updated_at=now,
                    )
                )
        store.upgrade(MIGRATION)
        with store.engine.connect() as connection:
            rows = dict(connection.execute(select(table.c.id, table.c.entities)).all())
            updated = connection.execute(select(table.c.updated_at).where(table.c.id == "default")).scalar()
        assert rows["default"] == {
            **old_types,
            "PERSON": {"operator": "replace"},
            "ADDRESS": {"operator": "replace"},
        }
        assert rows["custom"] == {"PHONE": {"operator": "mask"}}  # only the built-in policy changes
        assert updated > now  # cached compilations of the policy see the change
        store.downgrade("e8a1c3d5f702")
        with store.engine.connect() as connection:
            entities = connection.execute(select(table.c.entities).where(table.c.id == "default")).scalar()
        assert entities == old_types
    finally:
        store.dispose()


def test_a_dataset_job_replaces_names_and_addresses_like_the_other_types(client: TestClient) -> None:
    from tests.features.deid.test_api import jsonl, output_records, upload_dataset, wait_for_job

    record = {
        "messages": [
            {
                "role": "user",
                "content": "收件人：刘芳，地址：上海市浦东新区世纪大道100号8楼，电话13812345678",
            },
            {"role": "assistant", "content": "好的，刘芳女士，这张单子已记录。"},
        ]
    }
    source_id = upload_dataset(client, "orders.jsonl", jsonl(record))
    started = client.post(f"/v1/datasets/{source_id}/deidentify", json={}, headers=ALICE)
    assert started.status_code == 202, started.text
    job = wait_for_job(client, started.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["counts"] == {"PERSON": 2, "ADDRESS": 1, "PHONE": 1}
    _, content = output_records(client, job["output_dataset_id"])
    user, assistant = json.loads(content.decode().splitlines()[0])["messages"]
    assert user["content"] == "收件人：<PERSON_1>，地址：<ADDRESS_1>，电话<PHONE_1>"
    assert assistant["content"] == "好的，<PERSON_1>女士，这张单子已记录。"
