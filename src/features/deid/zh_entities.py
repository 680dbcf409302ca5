"""Chinese person names and postal addresses, found without a model.

Both finders follow the recognizers' rule: a compiled pattern finds cheap anchors
(a surname followed by a given-name character or a title; a road followed by a
house number; a numbered building or room; a province or municipality), so the
text between them is skipped in C. Each candidate is then judged with tables and
jieba's dictionary, and only a bare name that nothing else decides goes to jieba's
POS tagger, on a window of a few characters: the tagger reads about 0.08 MB/s, so
it never sees whole texts, and its verdicts are cached per window.

Context decides what the tables cannot: a role before a name (客户, 收件人), a title or "said" after
it, a name before it in a list (冯晓婷、顾磊), a speaker's colon at the start of a chat line, or a
clause that says what only a person does (高峰今天请假了). Well-known historical and public figures
come from a table of their own.

A PERSON span is the name alone, surname and given name, never a title or the
老/小 of a familiar form: in "王先生" it is "王", in "刘德华先生" "刘德华", in
"老王" "王". The title stays, so "这张桌子是王先生买的" becomes
"这张桌子是<PERSON_1>先生买的": the name is what identifies someone, and the
sentence stays readable.

An ADDRESS needs street-level evidence (a road, street or lane with a house
number; a numbered building or room in a named complex) or a whole chain of
divisions (province, city and district; a municipality and its district). A city
on its own ("我去上海市出差") is not personal data and is not reported.
"""

from __future__ import annotations

import logging
import re
import warnings
from functools import lru_cache
from itertools import islice

from src.features.deid.recognizers import ADDRESS, PERSON, Finding

with warnings.catch_warnings():
    # jieba 0.42.1's patterns hold invalid escape sequences, which Python warns about as it compiles them
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", SyntaxWarning)
    import jieba
    import jieba.posseg

# jieba announces loading its dictionary at DEBUG, through a stderr handler of its own
jieba.setLogLevel(logging.WARNING)
jieba.dt.initialize()

_FREQ: dict[str, int] = jieba.dt.FREQ
_TAGS: dict[str, str] = jieba.posseg.dt.word_tag_tab
_COMMON = 10  # a dictionary word at least this frequent is a word, not a chance run of characters
_PLACE_TAGS = frozenset({"ns", "nz", "s", "f"})

# ---- names: tables ------------------------------------------------------------------

# Common single surnames, roughly by population. Characters that mostly serve as function words or
# parts of everyday words (和 时 成 国 明 路 车 单 全 …) are left out: the few names they start are
# missed rather than testing nearly every sentence.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
    "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔"
    "向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌"
    "毕季裴霍涂苗谷盛曲翁冉骆蓝游辛靳管柴蒙鲍华喻祁蒲房滕屈饶牟艾尤阳穆农司卓古吉缪简项麦褚娄窦戚岑景党"
    "宫费卜冷晏席卫米柏宗瞿桂佟臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩佘池查麻苑迟邝官封谈匡"
    "鞠惠荆冀郁胥班储栗燕楚鄢劳谌奚皮粟冼蔺闻厉伊仝郜阚权帅屠朴廉禹祖漆卿狄索宣晋扈晁芮阙浦戈伏鹿薄邸雍"
    "辜羊萧赖阎洪"
)
# Surnames that are rare, or whose characters mostly mean something else (成, 时, 全, 明): a name starting
# with one is taken only after a role (签收人訾晓红) or before a title (幸女士).
RARE_SURNAMES = (
    "訾幸亓仉笪郗逯隗蒯郦郏昝璩桓甯弓牧宓仰钭戎束韶蓟邰鄂莘贡逄宰宦庾暨衡殳夔厍乜巢竺糜谯郇缑成时全单明国路车"
)
_COMPOUND_SURNAMES = tuple(
    "欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 夏侯 令狐 长孙 宇文 司徒 司空 端木 南宫 西门 独孤 "  # noqa: SIM905
    "轩辕 呼延 澹台 公冶 太史 申屠 闻人 钟离 宗政 濮阳 淳于 单于 赫连 拓跋 东郭 左丘 鲜于 万俟 百里".split()
)
# Characters common in given names.
_GIVEN_NAME_CHARS = frozenset(
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志宏文玉晨宇浩然子涵梓轩思雨欣怡俊红梅海波辉"
    "鹏飞斌宁林琳颖婷雪慧晶燕萍丹莉倩佳嘉琪琦瑶璐晓小德光成荣新春生龙凤云鑫森亮博健彬帅凯鸿毅剑锋昊天泽"
    "睿哲铭诚安康永福贵祥庆瑞兴旭东江山川清武立民中正义礼智信忠仁顺利金珍珠琴秋冬月星阳晴露虹彩美婉婕媛"
    "妍娇姗嫣婧蕾薇蓉芬芝莹萌菲蓓茜荷莲菊竹松柏桐楠柳枫可心悦乐欢喜爱恩惠慈淑贤良善巧妙雅洁纯素彤璇瑜瑾"
    "琼瑛璋琛珊玲珏宝钰锦绣绮萱馨芸菁蕊雯霖霏沛润泓澜渊源溪淇洪岩峰岚崇岭嵩巍坤培基垚圣尧舜禹昭晖曦昕晟"
    "景晋暄晗曜煜炜烨焕熙灿炎焱锐钧钊镇钢兵卫保家邦振盛昌隆富发达胜旋捷进升腾翔鹤鸣莺雁骏驰麟虎彪豹河湖"
    "泉涓汐沁沐淼潇湘漫瀚潮杉楷栋梁柱树根元一三四五宗启维纲纪经纬绍继承传延绪世运道朴勤豪雄聪怀意愿希冀"
    "盼梦珂琨珺璟娅妮娣姣婵娥宜宣宸宥宛寒岳峻岱屹凡帆航舟远迪逸遥曙昀旻昱晔晏暖朗友谊朝乾震辰力皓蔚翠冰"
    "茹滢依伊若语诗书墨韵歆笑默青紫碧芷艾禾穗修玮琰璨骁钦铮勋彦翰霆懿甜恒令大羽少群犇繁夕靖衡仪誉韬霄"
)
# Everyday words that jieba's dictionary tags as names.
_NOT_NAMES = frozenset(
    "文明 阳光 高峰 白雪 安静 宁静 黎明 向东 蓝天 金星 叶子 杜鹃 石英 武林 吉祥 朱红 金刚 林立 高明 高三 "  # noqa: SIM905
    "高超 高雅 华丽 温馨 祝福 常青 周全 金光 白云 白银 华为 古文 陈旧 师生 齐全 安危 严正 王朝 东方明珠 "
    "黄金周 雷霆 冉冉 徐徐 张扬 汪洋 乔木 杨柳 金山 石林 向阳 高昂 凌空 万世 任凭 宁可 许可 孙子 罗汉 "
    "杨树 雷雨 秦岭 张家 向前走 文静 小康 小龙 小白 张贴 "
    "陆军 卫星 雷达 冷笑 文武 高潮 辛勤 胡子 祖宗 关怀 温泉 王子 柴禾 晋升 童子 史诗 谢恩 麦子 郎中 朴素 "
    "燕子 白发 林子 梅子 查明 石柱 周旋 殷勤 权贵 毛发 施礼 王道 边远 柳树 伏兵 洪亮 柏树 丛生 盛世 唐诗 "
    "施恩 冷清 白玉 金秋 师承 马虎 梁柱 冷杉 封信 祖传 苗子 文雅 洪峰 方正 查清 华贵 安民 龙凤 段子 "
    "雷鸣 栗子 牟利 殷红 安康 白鹤 齐鸣 安逸 严令 毛竹 温顺 钟爱 贺喜 惠民 金玉 尚武 马达 索道 麻利 "
    "黄泉 古琴 胡琴 高升 阳刚 阳春 杨梅 黎民 安保 麦穗 付清 龙虎 高清 谢世 贺礼 梅树 冷光 薄礼 迟延 荣华 "
    "余晖 封山 康乐 古雅 伏虎 余光 甘霖 荣光 师恩 温雅 麦冬 凌云 柳林 薄冰 谈天 祝捷 闻达 李子 梅雨 漆成 "
    "武功 荣誉 古老 宫殿 权威 封锁 宣言 胡同 顾问 王爷 王公 齐声 祖先 金殿 师哥 齐全 洪水 顾客 米粉 白领 "
    "康复 沙滩 师范 梅花 范畴 周转 鹿角 陈述 荣获 丛林 马匹 胡说 白宫 左翼 冷汗 安抚 高僧 杜绝 卓越 "
    "沙丘 石狮 祝贺 师母 兰花 岳父 白白 凌厉 沙皇 楚王 师娘 胡闹 荣耀 毛巾 高悬 马背 桂花 陈设 金黄".split()
)
# Historical and public figures whose given names are not given-name characters (李白, 杜甫) or whose
# names are also words (冰心, 老舍): a table, since jieba tags as many everyday words `nr` as it tags
# these. Names that are mostly words in everyday text (孙子, 老子, 成龙, 路遥, 莫言, 三毛) are left out.
_FAMOUS = frozenset(
    # poets and writers
    "李白 杜甫 白居易 王维 孟浩然 李商隐 杜牧 苏轼 苏洵 苏辙 陆游 辛弃疾 李清照 王安石 欧阳修 柳宗元 韩愈 "  # noqa: SIM905
    "范仲淹 屈原 陶渊明 曹植 王勃 骆宾王 贺知章 岑参 王昌龄 刘禹锡 元稹 柳永 晏殊 秦观 黄庭坚 文天祥 "
    "关汉卿 汤显祖 曹雪芹 吴承恩 罗贯中 施耐庵 蒲松龄 纳兰性德 龚自珍 鲁迅 周树人 老舍 巴金 茅盾 冰心 "
    "郭沫若 朱自清 徐志摩 林徽因 沈从文 钱钟书 杨绛 张爱玲 萧红 丁玲 艾青 余光中 金庸 余华 史铁生 贾平凹 "
    "王小波 顾城 琼瑶 "
    # thinkers and historians
    "孔子 孟子 庄子 荀子 墨子 韩非子 朱熹 王阳明 董仲舒 司马迁 班固 司马光 "
    # rulers, statesmen, generals
    "秦始皇 嬴政 汉武帝 刘邦 项羽 刘备 曹操 曹丕 孙权 诸葛亮 关羽 张飞 赵云 周瑜 吕布 李世民 武则天 "
    "杨玉环 杨贵妃 朱元璋 康熙 乾隆 雍正 成吉思汗 忽必烈 努尔哈赤 慈禧 光绪 溥仪 商鞅 管仲 李斯 张良 "
    "萧何 韩信 魏征 狄仁杰 包拯 海瑞 于谦 张居正 岳飞 戚继光 林则徐 曾国藩 李鸿章 左宗棠 康有为 梁启超 "
    "谭嗣同 孙中山 黄兴 蔡元培 陈独秀 李大钊 胡适 毛泽东 周恩来 朱德 刘少奇 邓小平 彭德怀 贺龙 陈毅 "
    "叶剑英 宋庆龄 蒋介石 张学良 秋瑾 "
    # travellers, scientists, doctors, artists
    "张骞 郑和 玄奘 鉴真 徐霞客 班超 苏武 王昭君 花木兰 西施 貂蝉 张衡 祖冲之 蔡伦 毕昇 沈括 李时珍 华佗 "
    "张仲景 孙思邈 扁鹊 鲁班 詹天佑 钱学森 邓稼先 袁隆平 屠呦呦 华罗庚 陈景润 李四光 竺可桢 钱三强 "
    "杨振宁 李政道 钟南山 王羲之 颜真卿 柳公权 张择端 齐白石 徐悲鸿 吴道子 顾恺之 梅兰芳 聂耳 冼星海 "
    # public figures of today
    "马化腾 李彦宏 刘强东 任正非 董明珠 姚明 刘翔 郎平 谷爱凌 苏炳添 邓亚萍 周杰伦 刘德华 张学友 王菲 "
    "邓丽君 章子怡 巩俐 张艺谋 陈凯歌 周星驰 李小龙 杨利伟 雷锋 焦裕禄".split()
)
_FAMOUS_BY_FIRST: dict[str, list[str]] = {}
for _name in sorted(_FAMOUS, key=len, reverse=True):
    _FAMOUS_BY_FIRST.setdefault(_name[0], []).append(_name[1:])
# grouped by first character (李(?:商隐|白|…)|杜(?:甫|牧)|…): twice as fast as one flat alternation
_FAMOUS_NAME = re.compile(
    "|".join(f"{first}(?:{'|'.join(rest)})" for first, rest in _FAMOUS_BY_FIRST.items())
)
# 老/小 and a surname that make an everyday word (老师, 小麦) rather than a familiar name (老王, 小张).
_FAMILIAR_WORDS = frozenset(
    "老师 老牛 老农 老翁 老祖 老赖 老帅 老庄 老官 老边 老房 老包 老汤 老于 老成 老时 老路 老车 老国 老明 "  # noqa: SIM905
    "小于 小龙 小康 小麦 小米 小费 小牛 小农 小商 小班 小孔 小毛 小钱 小马 小熊 小童 小曲 小房 小鹿 小羊 "
    "小池 小官 小宗 小权 小边 小谷 小包 小苗 小石 小白 小金 小时 小车 小路 小单 小国 小明 小成 小全".split()
)
# Titles after a surname (王先生, 刘老师); the span stops before them.
_TITLES = (
    "先生 女士 小姐 太太 夫人 老师 医生 大夫 护士 经理 总经理 总监 主任 主管 局长 处长 科长 部长 院长 "  # noqa: SIM905
    "校长 厂长 所长 村长 镇长 县长 市长 省长 书记 教授 律师 会计 师傅 老板 同学 阿姨 叔叔 大爷 大妈 大哥 "
    "大姐 警官 队长 组长 班长 博士 工程师 董事长 教练 教官 主席 总裁 行长 站长 馆长 团长 主编 导演 师父 "
    "护士长 奶奶 爷爷 总 工 姐 哥".split()
)
_TITLES_BY_FIRST: dict[str, tuple[str, ...]] = {}
for _title in sorted(_TITLES, key=len, reverse=True):
    _TITLES_BY_FIRST[_title[0]] = (*_TITLES_BY_FIRST.get(_title[0], ()), _title)
# Words right before a name that say one follows: a role, or "my name is".
_CUES = frozenset(
    "客户 收件人 寄件人 发件人 收货人 签收人 联系人 负责人 申请人 委托人 当事人 投保人 被保险人 借款人 "  # noqa: SIM905
    "担保人 持卡人 开户人 户主 法人 经理 医生 患者 病人 乘客 用户 员工 同事 同学 老师 学生 司机 快递员 "
    "业务员 房东 租客 家属 丈夫 妻子 老公 老婆 儿子 女儿 父亲 母亲 爸爸 妈妈 朋友 我叫 名叫 叫做 我是 "
    "姓名 名字 真名 本名 叫 审核人 经办人 代收人 跟进人 受益人 投诉人 顾问 销售顾问 法务 代表 主治医生 "
    "监护人 紧急联系人 收款人 付款人 领取人 承办人 介绍人 推荐人 来电人 自称 署名 落款 "
    "市民 村民 居民 业主 网友 记者 作者 作家 诗人 志愿者 原告 被告 嫌疑人 证人 选手 运动员 教练 演员 "
    "歌手 导演 主播 店主 实习生 队员 学员 考生 家长 护士 医师 教师 班主任 辅导员 保安 保洁 厨师 "
    "律师 会计 出纳 专员 助理 秘书 前台 客服 骑手 外卖员 房客 买家 卖家 嘉宾 主持人 获奖者 得主 "
    "面试官 审批人 抄送 楼主 爷爷 奶奶 外公 外婆 姥姥 姥爷 哥哥 姐姐 弟弟 妹妹 表哥 表姐 表弟 表妹 叔叔 "
    "舅舅 姑姑 伯伯 嫂子 姐夫 妹夫 女婿 儿媳 同桌 室友 邻居 队友 搭档 组员".split()
)
# Cues after which what follows is a name even when it is also a word (姓名：白雪, 自称常胜); a role
# followed by a colon (跟进人：甘露) is one too.
_NAMING_CUES = frozenset("姓名 名字 真名 本名 我叫 名叫 叫做 叫 自称 署名 落款".split())  # noqa: SIM905
_CUE_LENGTHS = sorted({len(cue) for cue in _CUES}, reverse=True)
_NAMING_CUE_LENGTHS = sorted({len(cue) for cue in _NAMING_CUES}, reverse=True)
_CUE_SEPARATORS = frozenset("：: \u3000为是")
# What follows a person's name and rarely anything else.
_SAYS = frozenset(
    "说 讲 来电 反映 反馈 表示 告诉 回复 答应 同意 要求 投诉 签收 签字 留言 致电 "  # noqa: SIM905
    "认为 觉得 指出 强调 透露 坦言 你好 您好".split()
)
_SAYS_LENGTHS = sorted({len(word) for word in _SAYS}, reverse=True)
# What may follow 老王 or 小李 (a name that short needs a pause or a verb after it).
_AFTER_FAMILIAR = frozenset(
    "说讲来去到呢啊吧呀的在是也和跟让帮要你您我他她今明昨刚已都就还又给叫找问家聊打请回发拿送约喊"
)
_TAGGER_CONTEXT = 2  # characters after a candidate name the tagger also reads
# jieba's tags for a word it reads after a surname it tagged as a name, when that word is a given name
_GIVEN_NAME_WORD_TAGS = frozenset({"a", "ad", "an", "d", "ns", "i"})
# What separates the names of a list (冯晓婷、顾磊、庄海鸥): a name before one vouches for the next
_LIST_SEPARATORS = frozenset("、和与及")
# What comes before a name that is the subject of a clause or the object of a listening verb: where an
# everyday word followed by "said" is a name (高原说他…, 听舒畅说)
_SUBJECT_BEFORE = frozenset("，。！？；：、,.!?;: \n“”\"'（(听跟和与对问让找给据")
# What a clause says only of a person, when a word that starts it might be a name (高峰今天没来上班,
# 方圆提交的请假条, 万里刚才在群里…): work, family and chat life
_PERSON_PREDICATES = tuple(
    "请假 休假 离职 入职 辞职 上班 下班 加班 出差 值班 调休 生日 结婚 离婚 住院 出院 迟到 早退 报到 "  # noqa: SIM905
    "毕业 退休 朋友圈 群里 私信 发帖 打电话 回电话 发消息 签字 签名 保证 承诺 道歉 抱怨 上学 放学 留言 "
    "评论区 想到 开车".split()
)
# ... or, after 是, a person (常远是这个项目的负责人, 万里是我大学室友)
_PERSON_NOUNS = (
    _CUES
    | frozenset(_TITLES)
    | frozenset(
        "室友 邻居 领导 亲戚 校友 老乡 师兄 师姐 师弟 师妹 搭档 队友 伙伴 新人 闺蜜 发小 表哥 表姐 表弟 表妹 "  # noqa: SIM905
        "堂哥 堂姐 舅舅 姑姑 叔叔 阿姨 外甥 侄子 女婿 媳妇 男朋友 女朋友 对象 上司 下属 员工 成员 "
        "兄弟 姐妹 兄妹 姐弟 夫妻 夫妇 父子 母女 母子 父女 双胞胎".split()
    )
)
_CLAUSE_ENDS = "，。！？；,.!?;\n"
_CLAUSE_END = re.compile(f"[{_CLAUSE_ENDS}]")
# What rarely continues a name: a clause's end, a preposition, a particle, "said" (the end of the text too)
_NAME_BOUNDARY = frozenset(_CLAUSE_ENDS + "：:、在说是和的了把被给跟向对也都就还又") | {""}
_PERSON_PREDICATE = re.compile("|".join(_PERSON_PREDICATES))
_MAX_CLAUSE = 16  # characters after a surname read for what the clause says of it
# What a verdict on a name reads around its surname: a role and separator before it (紧急联系人：), two
# given-name characters, then a title (工程师) or the tagger's context after it.
_CONTEXT_BEFORE = 6
_CONTEXT_AFTER = 8

_NAME_FOLLOWS = "".join(sorted(_GIVEN_NAME_CHARS | set(_TITLES_BY_FIRST)))
# a given-name character or a title after the surname, or a doubled character (钱多多)
_SINGLE_SURNAME = re.compile(f"[{SURNAMES}](?=[{_NAME_FOLLOWS}]|([\u4e00-\u9fff])\\1)")
# literals only, so the search still skips ahead on their first characters
_COMPOUND_SURNAME = re.compile(f"(?:{'|'.join(_COMPOUND_SURNAMES)})(?=[\u4e00-\u9fff])")
_RARE_SURNAME = re.compile(f"[{RARE_SURNAMES}](?=[{_NAME_FOLLOWS}])")
_FAMILIAR = re.compile(f"[老小][{SURNAMES}]")
# what follows an office's name rather than a person's (卫健委, 公安局)
_OFFICE_CHARS = frozenset("委局厅署办")
# what ends a place, a thing or a group rather than a given name (黄鹤楼, 胡萝卜, 石家庄, 蒙古人)
_NOT_GIVEN_LAST = frozenset("楼塔庄人赛监县市省山河湖村镇寺庙桥卜湾港岛洲州城堡门街路院馆教派军")


def _is_cjk(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff"


def _everyday_word(word: str) -> bool:
    """A frequent dictionary word that is not a name (黄金, 周末, 阳光 are; 李娜 is not)."""
    if word in _NOT_NAMES:
        return True
    return _FREQ.get(word, 0) >= _COMMON and not _TAGS.get(word, "").startswith("nr")


# ---- names -------------------------------------------------------------------------


def find_persons(text: str) -> list[Finding]:
    """Chinese person names in `text`, in text order and without overlaps; offsets in characters."""
    spans: list[tuple[int, int]] = []
    listed: list[tuple[int, int, bool]] = []  # candidates nothing decided that follow a list separator
    for pattern, rare in ((_COMPOUND_SURNAME, False), (_SINGLE_SURNAME, False), (_RARE_SURNAME, True)):
        for match in pattern.finditer(text):
            end = _name_end(text, match.start(), match.end(), rare=rare)
            if end is not None:
                spans.append((match.start(), end))
            elif match.start() and text[match.start() - 1] in _LIST_SEPARATORS:
                listed.append((match.start(), match.end(), rare))
    # 冯晓婷、顾磊、庄海鸥: a name right before the separator vouches for the next; read left to right,
    # so a name found here vouches for the one after it, down the list, in one pass
    ends = {end for _, end in spans}
    for start, after, rare in sorted(listed):
        if start - 1 in ends:
            end = _name_end(text, start, after, rare=rare, listed=True)
            if end is not None:
                spans.append((start, end))
                ends.add(end)
    for match in _FAMOUS_NAME.finditer(text):
        if not _inside_word(text, match.start()):
            spans.append(match.span())
    for match in _FAMILIAR.finditer(text):
        if _familiar_surname(text, match.start() + 1):
            spans.append((match.start() + 1, match.end()))
    return [Finding(PERSON, start, end, text[start:end]) for start, end in _longest_first(spans)]


def _name_end(text: str, start: int, after: int, *, rare: bool = False, listed: bool = False) -> int | None:
    """Where the name whose surname spans text[start:after] ends, or None when it is no name.

    A `rare` surname needs a role before the name or a title after it; a `listed` one follows a name
    and a list separator, which counts as a role.
    """
    # the verdict depends on a few characters around the surname only (a role before it, a title
    # after it), so it is cached on them: chat logs repeat names in the same places ("王伟：…")
    left = max(start - _CONTEXT_BEFORE, 0)
    window = text[left : after + _CONTEXT_AFTER]
    end = _judged_name_end(window, start - left, after - left, listed)
    if end is None and (not start or text[start - 1] in _CLAUSE_ENDS) and _said_of_a_person(text, after):
        end = _judged_name_end(window, start - left, after - left, listed, predicated=True)
    if end is None:
        return None
    if rare and not (listed or _introduced(window, start - left) or _title_length(window, end)):
        return None  # 訾文博同学, 签收人訾晓红, 幸女士: not 成本 or 时间
    return left + end


def _said_of_a_person(text: str, after: int) -> bool:
    """The rest of the clause after a surname says what only a person does or is (see above)."""
    window = text[after + 1 : after + _MAX_CLAUSE]
    clause = _CLAUSE_END.split(window, maxsplit=1)[0]
    if _PERSON_PREDICATE.search(clause):
        return True
    if len(clause) == len(window):
        return False  # the clause runs on past what is read
    # 是 right after a one- or two-character given name, and a person that ends the clause (常远是这个
    # 项目的负责人; not 文化是每个员工的责任)
    return clause.find("是", 0, 2) >= 0 and any(clause[-length:] in _PERSON_NOUNS for length in (2, 3, 4))


@lru_cache(maxsize=32768)
def _judged_name_end(
    text: str, start: int, after: int, listed: bool = False, predicated: bool = False
) -> int | None:
    """The verdict of `_name_end` on a window; `predicated`: the clause says what only a person does."""
    if start and text[start - 1] in "老小" and text[after : after + 1] == "家":
        return None  # 老毛家: the familiar 老毛 and his family, not 毛家
    title = _title_length(text, after)
    if title:  # 王先生: the surname alone, unless it ends a word (中文老师) or makes one (班主任)
        return None if _inside_word(text, start) or _everyday_word(text[start : after + title]) else after
    compound = after - start == 2
    held_back = None  # where the name would end with a given character that starts a word
    word_given = None  # where it ends when its given name is an everyday word (庄/海鸥), said by context
    if compound and after + 2 <= len(text) and _known_name(text[start : after + 2]):
        end = after + 2  # 上官婉儿: a name jieba knows, whatever its characters
    elif compound and _two_given(text, after):
        end = after + 2  # 司马南风说: two characters, then a title or "said"
    elif compound and text[after] not in _NAME_FOLLOWS and _known_name(text[start : after + 1]):
        end = after + 1  # 东方朔, 尉迟恭, 司马迁
    elif not compound and _known_full_name(text[start : after + 2]):
        end = after + 2  # 王国强: a three-character name jieba knows, though 王国 is a word
    elif text[after] in _GIVEN_NAME_CHARS:
        end = after + 1
        # a second given character, unless it is a title or starts the next word (张伟明天 → 张伟); one
        # whose word is the given name itself (贺建军, 邓超然) is left to the tagger
        if text[end : end + 1] in _GIVEN_NAME_CHARS and not _title_length(text, end):
            # ... where the word it starts is not itself followed by one (牛立新民间: 新 is the name's, but
            # 宓晨一口气: 一 starts 一口气)
            if _starts_word(text, end) and not (
                _starts_word(text, end + 1) and _FREQ.get(text[end : end + 3], 0) < _COMMON
            ):
                held_back = end + 1
            else:
                end += 1
        elif _starts_word(text, after) and _TAGS.get(text[after : after + 2], "")[:1] in ("n", "a", "b"):
            word_given = after + 2
    elif text[after] == text[after + 1 : after + 2] and (
        predicated
        or listed
        or _introduced(text, start)
        or _says(text, after + 2)
        or _title_length(text, after + 2)
    ):
        end = after + 2  # 钱多多: a doubled given name, where a role, a verb or the clause says a person
    else:
        return None
    if text[start:end] in _DIVISIONS or text[start : end + 1] in _DIVISIONS:
        return None  # 景德镇, 金华市: a place
    introduced = _introduced(text, start) or listed
    predicated = predicated and _subject_goes_on(text, end)
    # a title or "said" after it: the name stands even if it is also a word (白雪说, 高明先生)
    named = _named(text, start)
    speaker = (not start or text[start - 1] == "\n") and text[end : end + 1] in ("：", ":")  # 褚卫东：收到
    vouched = bool(_title_length(text, end)) or _says(text, end) or named or predicated or speaker
    if not named and _starts_with_word(
        text, start, after, end, vouched=vouched, introduced=introduced, predicated=predicated
    ):
        return None
    if not introduced and _inside_word(text, start):
        return None
    if not (introduced or vouched) and _names_a_division(text, end):
        return None  # 吴江区, 金华市: a place
    if word_given is not None and (introduced or vouched):
        return word_given
    if introduced or vouched or compound or _known_name(text[start:end]):
        return end
    if end - after == 2 and text[end : end + 1] in _NAME_BOUNDARY:
        return end  # 晏子墨在…, 柯文杰的: two given characters and a clear boundary; the tagger is not asked
    window_end = end
    while window_end < min(len(text), end + _TAGGER_CONTEXT) and _is_cjk(text[window_end]):
        window_end += 1
    tagged = _tagged_name_length(text[start:window_end], after - start)
    if tagged <= after - start:
        return None
    if held_back is not None and start + tagged == held_back:
        return held_back  # 贺/建军: the tagger reads the word after the surname as its given name
    if tagged > end - start and _known_name(text[start : start + tagged]):
        return start + tagged  # 周树人: the tagger knows a longer name than the tables allow
    return start + min(tagged, end - start)


def _names_a_division(text: str, end: int) -> bool:
    """A division's or an office's suffix follows, on its own rather than starting a word (吴江区,
    卫健委; not 王伟市场部, 王伟局长)."""
    return text[end : end + 1] in _PLACE_OR_OFFICE_ENDS and not _starts_word(text, end)


def _familiar_surname(text: str, start: int) -> bool:
    """老王, 小李: a surname after 老 or 小 and before a pause or a verb, the pair no word (老师, 小康)."""
    pair = text[start - 1 : start + 1]
    if pair in _FAMILIAR_WORDS or _inside_word(text, start - 1):
        return False
    if _everyday_word(pair) and _TAGS.get(pair) not in ("n", "t"):  # 老张/n, 老宋/t are names; 小于/v is not
        return False
    after = text[start + 1 : start + 2]
    if after and _is_cjk(after) and after not in _AFTER_FAMILIAR:
        return False
    for end in range(start + 2, min(start + 4, len(text)) + 1):
        frequency = _FREQ.get(text[start - 1 : end])
        if frequency is None:
            break
        if frequency:
            return False  # 小龙女, 小白兔
    return True


def _title_length(text: str, position: int) -> int:
    """The length of the title (先生, 老师, 总…) at `position`; 0 if there is none."""
    for title in _TITLES_BY_FIRST.get(text[position : position + 1], ()):
        if text.startswith(title, position):
            # a one-character title must not begin a word: 王总说 is a title, 王总是 is not
            if len(title) > 1 or not _starts_word(text, position):
                return len(title)
            return 0
    return 0


def _starts_word(text: str, position: int) -> bool:
    """The character at `position` begins an everyday word with the next one (明天, 总是)."""
    word = text[position : position + 2]
    return len(word) == 2 and _everyday_word(word)


def _known_name(word: str) -> bool:
    return _TAGS.get(word, "").startswith("nr") and word not in _NOT_NAMES


def _known_full_name(word: str) -> bool:
    """A surname and two given characters that jieba's dictionary tags as a name (not 黄鹤楼, 胡萝卜)."""
    return (
        len(word) == 3
        and all(_is_cjk(char) for char in word)
        and word[1] != word[2]  # jieba tags 冷冰冰 and 黄澄澄 nr too; a doubled name needs context
        and _known_name(word)
        and word[-1] not in _NOT_GIVEN_LAST
        and _FREQ.get(word[1:], 0) < _COMMON
    )


def _starts_with_word(
    text: str, start: int, after: int, end: int, *, vouched: bool, introduced: bool, predicated: bool = False
) -> bool:
    """Surname and given name begin an everyday word (黄金, 周末, 高兴), or run into one (张家界, 许昌市).

    Words jieba tags as names (白雪, 叶子) count as everyday words unless a role comes before them
    (学生温雅, 用户叶子琪) or a title or "said" after them (白雪说). A role or "said" also lets a name
    start with an everyday word (寄件人范志明, 王国强说).
    """
    for stop in range(after + 1, min(end + 1, len(text)) + 1):
        word = text[start:stop]
        if _FREQ.get(word, 0) >= _COMMON and not _TAGS.get(word, "").startswith("nr"):
            # 寄件人范志明, 王国强说: a word that only begins the name does not end it when a role or a
            # verb says a person is meant; one that is the whole name (联系人黄金) or runs past it does
            if stop < end and (introduced or vouched):
                continue
            if stop == end and introduced and vouched and _TAGS.get(word, "")[:1] in ("n", ""):
                continue  # 投诉人于洋表示: a role before it and a verb after it
            if (
                stop == end
                and word not in _PERSON_NOUNS  # 房东说, 老师是…
                and (predicated or _subject_who_says(text, start, end))
                and _TAGS.get(word, "")[:1] in (("n", "a", "b", "v") if predicated else ("n", "a", "b"))
            ):
                continue  # 高原说他…, 听舒畅说, 高峰今天没来上班: a clause says it is a person
            return True
        if word in _NOT_NAMES and not vouched and not introduced and stop <= end:
            return True
    return False


def _subject_who_says(text: str, start: int, end: int) -> bool:
    """The name starts a clause, or follows a verb of listening, and is followed by "said"."""
    return (not start or text[start - 1] in _SUBJECT_BEFORE) and _says(text, end)


def _subject_goes_on(text: str, end: int) -> bool:
    """A time, an adverb, a preposition or a verb follows the name, as after a clause's subject
    (高峰今天…, 文静把…, 方圆提交…), not a noun or 的 that would make it part of one (黄金周, 安静的环境)."""
    for length in (2, 1):
        word = text[end : end + length]
        if len(word) == length and word in _TAGS:
            return _TAGS[word][:1] in ("t", "d", "p", "v")
    return False


def _two_given(text: str, after: int) -> bool:
    """Two characters after a compound surname: given-name characters, a name jieba knows, or any two
    before a title or "said"."""
    given = text[after : after + 2]
    if len(given) < 2 or not all(_is_cjk(char) for char in given):
        return False
    if all(char in _GIVEN_NAME_CHARS for char in given) and not _starts_word(text, after + 1):
        return True  # 诸葛文韬: two given-name characters, the second starting no word
    return _known_name(given) or bool(_title_length(text, after + 2)) or _says(text, after + 2)


def _inside_word(text: str, start: int) -> bool:
    """The surname's character ends or sits inside a word that starts before it: 国王, 一张, 中文老师."""
    if not start or not _is_cjk(text[start - 1]):
        return False
    after_time = _TAGS.get(text[start - 2 : start]) == "t"  # 今天王阿姨: 今天 ends there, not 天王 starting
    for word_start in range(max(start - 3, 0), start - after_time):
        for word_end in range(start + 1, min(word_start + 5, len(text)) + 1):
            frequency = _FREQ.get(text[word_start:word_end])
            if frequency is None:
                break  # jieba keeps every prefix of its words: no longer word starts this way
            if frequency >= _COMMON:
                return True
    return False


def _introduced(text: str, start: int) -> bool:
    """A role or "my name is" right before the name: 客户王芳, 收件人：赵敏, 我叫李娜, 投保人为钱多多."""
    end = start - 1 if start and text[start - 1] in _CUE_SEPARATORS else start
    return any(text[end - length : end] in _CUES for length in _CUE_LENGTHS if end >= length)


def _named(text: str, start: int) -> bool:
    """What follows is a name whatever it reads as: 姓名：白雪, 自称常胜, 跟进人：甘露."""
    if start and text[start - 1] in "：:":
        return _introduced(text, start)
    end = start - 1 if start and text[start - 1] in _CUE_SEPARATORS else start
    return any(text[end - length : end] in _NAMING_CUES for length in _NAMING_CUE_LENGTHS if end >= length)


def _says(text: str, end: int) -> bool:
    """The name is followed by what only people do: 白雪说, 向阳来电, 陈静表示."""
    return any(text[end : end + length] in _SAYS for length in _SAYS_LENGTHS)


@lru_cache(maxsize=16384)
def _tagged_name_length(window: str, surname_length: int) -> int:
    """How many leading characters of `window` jieba's POS tagger reads as a person's name (0: none).

    Besides a word it tags as a name, it counts a word its HMM made up from the surname and given-name
    characters (it reads 郑浩一起 as 郑浩/ns: the boundary is right, the tag a guess), and a surname it
    split from a given name that it tags as one (何/r 俊杰/nr).
    """
    words = list(islice(jieba.posseg.dt.cut(window), 2))
    first, flag = words[0]
    if flag.startswith("nr") and len(first) > surname_length:
        return len(first)
    surname, given = first[:surname_length], first[surname_length:]
    if given and not _FREQ.get(first) and all(char in _GIVEN_NAME_CHARS for char in given):
        return len(first)
    if first == surname and len(words) == 2:
        second, second_flag = words[1]
        if second_flag.startswith("nr") and len(second) <= 2 and second[0] not in SURNAMES:
            return surname_length + len(second)
        # two given-name characters it took for a word: a noun or an attribute (雷/n 振华/nz, 邓/nr 超然/b,
        # 贺/nr 建军/n), or, when it tagged the surname alone as a name, an adjective, an adverb or a
        # place (杜/nr 浩然/a, 潘/nr 立新/d, 秦/nr 海洋/ns), never a time or a verb (张明天, 王立即)
        given_name = len(second) == 2 and all(char in _GIVEN_NAME_CHARS for char in second)
        if given_name and (
            second_flag in ("nz", "b", "n") or (flag == "nr" and second_flag in _GIVEN_NAME_WORD_TAGS)
        ):
            return surname_length + 2
    return len(first) if flag.startswith("nr") else 0


def _longest_first(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    kept: list[tuple[int, int]] = []
    for start, end in sorted(spans, key=lambda span: (span[0], -span[1])):
        if not kept or start >= kept[-1][1]:
            kept.append((start, end))
    return kept


# ---- addresses: tables ---------------------------------------------------------------

_PROVINCES = (
    "北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 "  # noqa: SIM905
    "海南 四川 贵州 云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门".split()
)
_MUNICIPALITIES = ("北京", "天津", "上海", "重庆")
_AUTONOMOUS_REGIONS = (
    "内蒙古自治区 广西壮族自治区 西藏自治区 宁夏回族自治区 新疆维吾尔自治区 "  # noqa: SIM905
    "香港特别行政区 澳门特别行政区".split()
)
_CITIES = (
    "广州 深圳 杭州 南京 苏州 成都 武汉 西安 长沙 郑州 济南 青岛 大连 沈阳 哈尔滨 长春 石家庄 太原 合肥 "  # noqa: SIM905
    "福州 厦门 南昌 昆明 贵阳 南宁 海口 兰州 西宁 银川 乌鲁木齐 拉萨 呼和浩特 宁波 无锡 佛山 东莞 珠海 "
    "温州 绍兴 嘉兴 常州 徐州 烟台 泉州 惠州 南通 扬州 台州 金华 潍坊 保定 唐山 洛阳 襄阳 宜昌 株洲 "
    "湛江 汕头 江门 桂林 三亚 柳州 绵阳 遵义 大理 丽江 景德镇 镇江 桐乡".split()
)
# Divisions found by name, with or without their suffix (广东, 广东省, 深圳, 深圳市).
_DIVISIONS = frozenset(
    [*_PROVINCES, *_CITIES, *_AUTONOMOUS_REGIONS]
    + [f"{name}省" for name in _PROVINCES if name not in _MUNICIPALITIES and len(name) == 2]
    + [f"{name}省" for name in ("黑龙江",)]
    + [f"{name}市" for name in (*_MUNICIPALITIES, *_CITIES)]
    + ["市南区", "市北区", "市中区"]  # districts whose names hold a suffix character
)
_DIVISION_LENGTHS = sorted({len(name) for name in _DIVISIONS}, reverse=True)
_DIVISION_SUFFIXES = ("自治区", "自治州", "自治县", "新区", "地区", "省", "市", "区", "县", "镇", "乡")
_SUFFIX_CHARS = frozenset("省市区县镇乡")
_PLACE_OR_OFFICE_ENDS = _SUFFIX_CHARS | _OFFICE_CHARS  # what ends 吴江区 or 卫健委 after a name-like run
# Characters that end a place name read leftwards: verbs, pronouns and particles around an address.
_STOP = frozenset(
    "在住是的了到于从往去与及址为寄送我你他她们把被给让叫说要想由离近即或请也就还又才很最不没这那哪至"
)
_COMPLEX_SUFFIXES = (
    "写字楼 大厦 广场 中心 花园 小区 公寓 大楼 家园 新村 公馆 社区 大院 商城 苑 园 城 阁".split()  # noqa: SIM905
)
_MAX_NAME = 8  # characters of a road or complex name
_MAX_DIVISION_NAME = 4  # characters of a division's name before its suffix, unless the tables know it
_MAX_AUTONOMOUS_NAME = 10  # 黔东南苗族侗族自治州: a place and the peoples it is named after

_PLACE_CHAR = f"(?![{''.join(sorted(_STOP | _SUFFIX_CHARS))}])[\u4e00-\u9fff]"
_DIGIT = "[0-9０-９]"
# a road, street, lane, village or compound and its house number: 文三路478号, 中关村大街27号院,
# 人民南路四段27号, 愚园路1000弄, 建设路12巷, 大溪村5组12号, 帅府园1号, 碧华里12-3-201, and Beijing's
# numbered hutongs, 西四北三条21号
_ROAD_NUMBER = re.compile(
    f"(?:巷子|[路街道巷弄里村同段园苑]|(?<=[一二三四五六七八九十头])条)(?:(?<=[路街道])[东南西北])?"
    f"(?:{_DIGIT}{{1,3}}组)?"
    f"(?:{_DIGIT}{{1,5}}(?:[-－之]{_DIGIT}{{1,4}})?(?:号院(?!子)|号楼(?![下上前后里外])|号|弄|巷)"
    f"|{_DIGIT}{{1,4}}[-－]{_DIGIT}{{1,3}}[-－]{_DIGIT}{{1,4}}(?!{_DIGIT}))"
)
_ROAD_SUFFIX = re.compile("(?:大道|大街|胡同|[路街道巷])")
# a numbered building or room: 3栋, B座, 5号楼, 501室 (the number is read in Python)
_UNIT_MARK = re.compile("[栋幢座室楼]")
_SUBDIVISION = re.compile(f"[A-Za-z]?(?:{_DIGIT}|[一二三四五六七八九十]){{1,2}}[期区]$")  # 二期, 一区, R2区
_PROVINCE_OR_MUNICIPALITY = re.compile("省|自治区|特别行政区|北京|上海|天津|重庆")
_DISTRICT = re.compile("[区县]")
_DIVISION_AT = re.compile(
    f"(?:{_PLACE_CHAR}){{2,{_MAX_AUTONOMOUS_NAME - 1}}}?族自治[州县]"
    f"|(?:{_PLACE_CHAR}){{1,{_MAX_DIVISION_NAME}}}?(?:{'|'.join(_DIVISION_SUFFIXES)})"
)
_UNIT = (
    f"[-－]?(?:{_DIGIT}|[A-Za-z一二三四五六七八九十]){{1,5}}"
    "(?:号楼(?![上下])|号院|号|栋|幢|座|单元|门(?!口)|层|楼(?![上下])|室|房|户|区)"
)
_COMPLEX = f"(?:{_PLACE_CHAR}|[A-Za-z]){{1,{_MAX_NAME}}}?(?:{'|'.join(_COMPLEX_SUFFIXES)})"
_ROOM_AFTER_BUILDING = f"(?<=[座栋幢楼元门层]){_DIGIT}{{3,5}}(?!{_DIGIT})"  # A座1201, 2门201, 10层1001
# a tower named without a complex suffix, known by its lettered or numbered block: 第一国际B座
_NAMED_TOWER = f"(?:{_PLACE_CHAR}){{2,6}}?(?:[A-Za-z]|{_DIGIT}){{1,3}}(?:座|栋|幢|号楼)"
# what follows a house number or a building: more units, a courtyard, a named complex or tower
_TAIL = re.compile(f"(?:{_UNIT}|院(?!子)|{_COMPLEX}|{_NAMED_TOWER}|{_ROOM_AFTER_BUILDING}|[东南西北中]塔)*")
_NUMBER_CHARS = frozenset(
    "0123456789０１２３４５６７８９ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-－"
)


# ---- addresses -------------------------------------------------------------------------


def find_addresses(text: str) -> list[Finding]:
    """Chinese postal addresses in `text`, each whole, in text order; offsets in characters."""
    spans: list[tuple[int, int]] = []
    for match in _ROAD_NUMBER.finditer(text):
        start = _road_start(text, match.start())
        if start is not None:
            spans.append((_divisions_start(text, start), _TAIL.match(text, match.end()).end()))
    for match in _UNIT_MARK.finditer(text):
        span = _building(text, match.start(), match.end())
        if span is not None:
            spans.append(span)
    for match in _PROVINCE_OR_MUNICIPALITY.finditer(text):
        span = _division_chain(text, match.start(), match.end())
        if span is not None:
            spans.append(span)
    for match in _DISTRICT.finditer(text):
        span = _divisions_and_road(text, match.end())
        if span is not None:
            spans.append(span)
    return [Finding(ADDRESS, start, end, text[start:end]) for start, end in _merged(spans)]


def division_prefix_length(address: str) -> int:
    """How many leading characters of an address name divisions (广东省深圳市南山区), not the street."""
    position = 0
    while True:
        end = _division_end(address, position)
        if end is None:
            return position
        position = end


def _road_start(text: str, suffix: int) -> int | None:
    """Where the name of the road whose suffix character is at `suffix` starts; None if it has none."""
    if text[suffix] == "同" and text[suffix - 1 : suffix] != "胡":
        return None
    start = _name_start(text, suffix)
    # a division's suffix character inside the road's name (市场路, 萧山区市心中路) is part of it
    while start and text[start - 1] in _SUFFIX_CHARS and _division_start(text, start) is None:
        start = _name_start(text, start - 1)
    if start == suffix:
        return None
    road = text[start : suffix + 1]
    if len(road) == 2 and _everyday_place_word(road) and _division_start(text, start) is None:
        return None  # an everyday word before a number (知道3号, 通道5号), and no city or district
    return start


def _name_start(text: str, end: int) -> int:
    """Where a road or complex name ending at `end` starts, reading leftwards over place characters."""
    start = end
    while start > 0 and end - start < _MAX_NAME:
        char = text[start - 1]
        if not _is_cjk(char) or char in _STOP or char in _SUFFIX_CHARS:
            break
        start -= 1
    return start


def _divisions_start(text: str, end: int) -> int:
    """Where the run of divisions (省, 市, 区…) that ends at `end` starts; `end` if there is none."""
    while True:
        start = _division_start(text, end)
        if start is None:
            return end
        end = start


def _division_start(text: str, end: int) -> int | None:
    """Where a division (广东省, 深圳市, 南山区, 浦东新区…) that ends at `end` starts, or None."""
    for length in _DIVISION_LENGTHS:
        if length <= end and text[end - length : end] in _DIVISIONS:
            return end - length
    suffix = next((s for s in _DIVISION_SUFFIXES if end > len(s) and text.startswith(s, end - len(s))), None)
    if suffix is None:
        return None
    name_end = end - len(suffix)
    name_start = name_end
    longest = _MAX_AUTONOMOUS_NAME if suffix in ("自治州", "自治县") else _MAX_DIVISION_NAME
    while name_start > 0 and name_end - name_start < longest:
        char = text[name_start - 1]
        if not _is_cjk(char) or char in _STOP or char in _SUFFIX_CHARS:
            break
        name_start -= 1
    if name_start == name_end:
        return None
    # a place name jieba knows (湖州市; not 湖区 or 山区, which are words of their own) …
    for start in range(name_start, name_end - 1):
        if _TAGS.get(text[start:end]) == "ns":
            return start
    # … or the whole name when something before it ends it (嘉兴市南湖区), else two characters
    before = text[name_start - 1] if name_start else ""
    if not before or not _is_cjk(before) or before in _STOP or before in _SUFFIX_CHARS:
        return name_start
    return max(name_start, name_end - 2)


def _division_end(text: str, start: int) -> int | None:
    for length in _DIVISION_LENGTHS:
        if text[start : start + length] in _DIVISIONS:
            return start + length
    match = _DIVISION_AT.match(text, start)
    if match is None or _everyday_place_word(text[match.end() - 1 : match.end() + 1]):
        return None  # no suffix, or one that starts a word: 市场, 区域, 县城, 深圳市长
    return match.end()


def _everyday_place_word(word: str) -> bool:
    """A frequent dictionary word of two or more characters that is not a place."""
    return len(word) > 1 and _FREQ.get(word, 0) >= _COMMON and _TAGS.get(word) not in _PLACE_TAGS


def _building(text: str, mark: int, mark_end: int) -> tuple[int, int] | None:
    """A numbered building or room in a named complex: 阳光花园3栋2单元501室, 芳古园一区18号楼."""
    number_end = mark
    if text[mark] == "楼":
        if text[mark - 1 : mark] != "号" or text[mark_end : mark_end + 1] in ("下", "上", "前", "后"):
            return None  # 8楼 is a floor: on its own it locates nothing
        number_end -= 1
    number_start = number_end
    while number_start > 0 and number_end - number_start < 6 and text[number_start - 1] in _NUMBER_CHARS:
        number_start -= 1
    if number_start == number_end:
        return None
    complex_end = number_start
    subdivision = _SUBDIVISION.search(text, max(complex_end - 3, 0), complex_end)
    if subdivision is not None:
        complex_end = subdivision.start()
    suffix = next(
        (s for s in _COMPLEX_SUFFIXES if complex_end > len(s) and text.startswith(s, complex_end - len(s))),
        None,
    )
    if suffix is None:
        return None
    name_end = complex_end - len(suffix)
    numbered = name_end
    while numbered > 0 and name_end - numbered < 4 and text[numbered - 1] in _NUMBER_CHARS:
        numbered -= 1  # 阳光100小区: a number inside the complex's name
    complex_start = _name_start(text, numbered)
    if complex_start == numbered:
        return None
    return _divisions_start(text, complex_start), _TAIL.match(text, mark_end).end()


def _division_chain(text: str, anchor: int, anchor_end: int) -> tuple[int, int] | None:
    """A province, city and district (广东省深圳市南山区), or a municipality and district (北京市海淀区)."""
    name = text[anchor:anchor_end]
    if name in _MUNICIPALITIES:
        start, end, needed = anchor, anchor_end + (text[anchor_end : anchor_end + 1] == "市"), 1
    else:
        start = _division_start(text, anchor_end)
        if start is None:
            return None
        end, needed = anchor_end, 2
    for _ in range(needed):
        next_end = _division_end(text, end)
        if next_end is None:
            return None
        end = next_end
    return start, end


def _divisions_and_road(text: str, district_end: int) -> tuple[int, int] | None:
    """A city, a district and a road without a number: 苏州市姑苏区干将西路."""
    if district_end >= len(text) or not _is_cjk(text[district_end]) or text[district_end] in _STOP:
        return None
    district_start = _division_start(text, district_end)
    if district_start is None or _division_start(text, district_start) is None:
        return None
    road_suffix = _ROAD_SUFFIX.search(text, district_end + 1, min(len(text), district_end + _MAX_NAME + 2))
    if road_suffix is None or _name_start(text, road_suffix.start()) > district_end:
        return None  # no road right after the district (海淀区的房价)
    road_end = road_suffix.end()
    ending = text[road_end - 2 : road_end]
    if _FREQ.get(ending, 0) >= _COMMON and _TAGS.get(ending, "n")[0] in "vdrcpu":
        return None  # a verb that ends like a road: 知道, 报道
    if road_end - district_end == 2 and _everyday_place_word(ending):
        return None  # a nameless road or an everyday word: 马路, 公路, 通道
    # the divisions before the road, all of them (深圳市南山区科技园南区高新南七道)
    return _divisions_start(text, district_end), road_end


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
