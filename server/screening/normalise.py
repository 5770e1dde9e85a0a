"""Text folded the way evaders disguise words, with a map back to the original positions (LIVE-5).

Writers dodge a word list by full-width letters (ｄｕｂｏ), case (DuBo), traditional characters
(賭博), tone marks (dǔbó) and symbols, spaces or zero-width characters pushed between the
characters (赌*博, 赌 博, 赌\u200b博). Folding undoes these, character by character:

* NFKC (full → half width, circled and compatibility forms), then case fold;
* traditional → simplified for a table of common characters (:data:`T2S`; many-to-one, so
  folding never turns one simplified word into another);
* Latin letters lose their diacritics (ü, ǔ → u), so pinyin typed with tones still matches;
* everything that is not a letter or a digit (:data:`SEPARATOR`: spaces, punctuation, symbols,
  emoji, combining marks, zero-width and other format characters) is dropped.

:class:`Normalised` gives the folded ``text`` with ``pos`` (the original index of each of its
characters) so a match is shown in the writer's own text, and ``folded``, the same with the
separators still in place, which the screener scans (its patterns skip separator runs) — so a
message of lower-case or simplified Chinese, the usual case, is scanned without being copied
character by character. The word list is folded by the same rules, so the comparison is symmetric.
"""
from __future__ import annotations

import re
import unicodedata

# Traditional → simplified, one pair per item (traditional first). Common characters and every
# character of the packaged word list; a full OpenCC table would be 10 × larger for little gain.
_PAIRS = """
賭赌 詐诈 騙骗 單单 殺杀 盤盘 貸贷 錢钱 電电 網网 場场 機机 時时 資资 證证 辦办 約约 砲炮 賣卖 黃黄
視视 頻频 搖摇 頭头 販贩 槍枪 藥药 襲袭 擊击 報报 復复 會会 傳传 銷销 龐庞 攬揽 儲储 檢检 製制 彈弹
樂乐 兇凶 嫖嫖 這这 個个 們们 來来 說说 對对 國国 學学 過过 後后 還还 從从 長长 開开 發发 關关 問问
點点 現现 動动 進进 種种 實实 與与 義义 體体 當当 經经 麼么 線线 課课 師师 業业 務务 員员 題题 號号
應应 該该 話话 讓让 給给 見见 覺觉 樣样 氣气 萬万 億亿 歲岁 買买 價价 貨货 費费 貴贵 賺赚 賠赔 錯错
鐘钟 門门 間间 陽阳 陰阴 隊队 際际 雜杂 難难 風风 飛飞 馬马 魚鱼 鳥鸟 黨党 齊齐 龍龙 語语 讀读 寫写
聽听 車车 軍军 輕轻 農农 邊边 運运 遠远 選选 郵邮 鄉乡 醫医 針针 銀银 鐵铁 陳陈 隨随 顏颜 願愿 類类
顯显 飯饭 飲饮 館馆 驗验 髮发 鬥斗 麗丽 齒齿 龜龟 圖图 團团 園园 圓圆 聖圣 壓压 處处 備备 夠够 夢梦
奮奋 婦妇 媽妈 孫孙 寧宁 寶宝 將将 專专 尋寻 導导 層层 歷历 帶带 幫帮 幹干 廣广 廠厂 張张 強强 徑径
徵征 態态 懷怀 戀恋 戰战 戶户 護护 擇择 據据 擴扩 攝摄 敗败 數数 斷断 於于 書书 條条 東东 極极 構构
標标 權权 歡欢 歸归 決决 沒没 淨净 減减 測测 滿满 準准 漢汉 潔洁 濟济 灣湾 燈灯 爭争 爾尔 牆墙 狀状
獎奖 獨独 獲获 環环 產产 産产 畫画 療疗 盡尽 監监 眾众 礎础 確确 碼码 稱称 穩稳 窮穷 競竞 筆笔 築筑
簡简 糧粮 紀纪 紅红 級级 紙纸 紛纷 細细 終终 組组 結结 絡络 統统 絲丝 綜综 綠绿 維维 緊紧 練练 縣县
總总 績绩 織织 繼继 續续 罰罚 羅罗 習习 聞闻 聯联 職职 肅肃 脅胁 腦脑 舊旧 艱艰 藝艺 節节 範范 蘇苏
蟲虫 術术 衛卫 補补 裝装 複复 規规 親亲 覽览 觀观 計计 訂订 討讨 訓训 記记 訪访 設设 許许 訴诉 評评
詞词 試试 詩诗 詳详 認认 誤误 誠诚 調调 論论 請请 諸诸 謝谢 識识 議议 變变 豐丰 豬猪 負负 財财 責责
貧贫 購购 貿贸 賓宾 質质 贊赞 趕赶 趨趋 跡迹 蹤踪 軟软 較较 載载 輪轮 輸输 轉转 辭辞 連连 週周 遊游
達达 遲迟 適适 遷迁 遺遗 鄰邻 醜丑 釋释 鈔钞 鉛铅 銅铜 鋼钢 錄录 鍵键 鎖锁 鏡镜 鑰钥 閉闭 閒闲 閱阅
陸陆 險险 隱隐 雖虽 雙双 雞鸡 離离 靈灵 靜静 響响 頁页 項项 順顺 須须 預预 領领 顧顾 飽饱 餓饿 駕驾
騎骑 驅驱 驚惊 鬧闹 魯鲁 鮮鲜 鳳凤 鴨鸭 鵝鹅 麥麦 齡龄 槍枪 彈弹 爆爆 詭诡 謀谋 欺欺 騷骚 擾扰 淫淫
妓妓 裸裸 賄贿 賂赂 贓赃 綁绑 搶抢 劫劫 竊窃 偽伪 幣币 匯汇 兌兑 戶户 貪贪 腐腐 販贩 毒毒 癮瘾 嗎吗
囉啰 嗎吗 頂顶 額额 驗验 帳账 賬账 託托 託托 釣钓 夥伙 僞伪 傷伤 殘残 滅灭 屍尸 斃毙 爺爷 娛娱 諾诺
"""
T2S: dict[str, str] = {p[0]: p[1] for p in _PAIRS.split() if len(p) == 2 and p[0] != p[1]}


def _latin_base(ch: str) -> str:
    """``ǔ`` → ``u``: a Latin letter without its marks (pinyin typed with tones)."""
    if ch.isascii():
        return ch
    base = unicodedata.normalize("NFKD", ch)[0]
    return base if base.isascii() and base.isalpha() and unicodedata.name(ch, "").startswith("LATIN") else ch


def fold_char(ch: str) -> str:
    """One original character → what it contributes to the folded text ('' when it is dropped)."""
    out = []
    for c in unicodedata.normalize("NFKC", ch).casefold():
        c = _latin_base(T2S.get(c, c))
        if c.isalnum():  # the complement of SEPARATOR below: letters and digits of any script
            out.append(c)
    return "".join(out)


SEPARATOR = r"[\W_]"  # what writers insert between characters: spaces, symbols, marks, zero-width…
_SEPARATORS = re.compile(SEPARATOR)


class _FoldMemo(dict):
    """Fold of each character on first sight: a memo of a pure function, never a changed result."""

    def __missing__(self, ch: str) -> str:
        value = fold_char(ch)
        self[ch] = value
        return value


_FOLDED = _FoldMemo()


# Letters and digits that may fold to something else: all but a–z, 0–9 and CJK ideographs
# (traditional ones are translated first, below). Separators are left to
# the matchers, which skip ``SEPARATOR`` runs, so a lower-case or simplified-Chinese message has
# nothing to fold. (Kept as a few ranges and one category: a long range list would be scanned
# linearly by the regex engine for every character.)
_UNSTABLE = re.compile(r"[^a-z0-9_\u3400-\u4dbf\u4e00-\u9fff\W]")
# One-for-one replacements done by str.translate before the per-character look-ups: traditional
# characters and full-width ASCII (ｄｕｂｏ), the commonest disguises in Chinese text.
# (Only full-width letters and digits: full-width punctuation is in nearly every Chinese message,
# is a separator anyway, and translating a whole message costs more than the rest of screening.)
_FULL_WIDTH = [*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B)]
_ONE_FOR_ONE = {**T2S, **{chr(cp): chr(cp - 0xFEE0).lower() for cp in _FULL_WIDTH}}
_ONE_FOR_ONE_RE = re.compile("[" + "".join(sorted(T2S)) + "\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_ONE_FOR_ONE_TABLE = str.maketrans(_ONE_FOR_ONE)


def _piece(ch: str) -> str:
    """What one character contributes to ``Normalised.folded`` (separators stay as they are)."""
    return _FOLDED[ch] if ch.isalnum() else ch


def _fold_text(text: str) -> tuple[str, bool]:
    """Fast path: C-speed lower-casing and translation, then a look-up for the few characters left
    (ß, ǔ, ①…). Separators are kept. Also says whether every character gave exactly one."""
    one_each = True

    def look_up(m: re.Match) -> str:
        nonlocal one_each
        value = _FOLDED[m.group()]
        one_each = one_each and len(value) == 1
        return value

    lowered = text.lower()
    if len(lowered) == len(text):
        text = lowered
    if _ONE_FOR_ONE_RE.search(text):
        text = text.translate(_ONE_FOR_ONE_TABLE)
    folded = _UNSTABLE.sub(look_up, text)
    return folded, one_each and len(folded) == len(text)


class Normalised:
    """``original`` folded for matching, in two shapes.

    ``folded``: each letter or digit replaced by its fold, separators left as they are — what the
    screener scans, skipping separator runs (``SEPARATOR``) between a word's characters. ``text``:
    the folded text without separators; ``pos[k]`` is the original index of ``text[k]``.
    """

    __slots__ = ("original", "folded", "_fpos")

    def __init__(self, original: str):
        self.original = original
        self.folded, one_each = _fold_text(original)
        self._fpos: list[int] | None = None  # None: folded[i] came from original[i]
        if not one_each:  # a character folded to several (ß → ss, ㎏ → kg) or none: one by one
            pieces = [_piece(ch) for ch in original]
            self.folded = "".join(pieces)
            self._fpos = [i for i, p in enumerate(pieces) for _ in p]

    def folded_span(self, start: int, end: int) -> tuple[int, int]:
        """``folded[start:end]`` → the original ``[start, end)`` it came from."""
        if self._fpos is None:
            return start, end
        return self._fpos[start], self._fpos[end - 1] + 1

    @property
    def text(self) -> str:
        return _SEPARATORS.sub("", self.folded)

    @property
    def pos(self) -> list[int]:
        fpos = self._fpos if self._fpos is not None else range(len(self.folded))
        return [fpos[i] for i, ch in enumerate(self.folded) if not _SEPARATORS.match(ch)]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Folded ``text[start:end]`` → the original ``[start, end)`` it was folded from."""
        pos = self.pos
        return pos[start], pos[end - 1] + 1


def normalise(text: str) -> Normalised:
    return Normalised(text)


def fold(text: str) -> str:
    """Just the folded text without separators: how a list word is compared."""
    return _SEPARATORS.sub("", _fold_text(text)[0])
