#!/usr/bin/env python3
"""Differential test: dpo.cpp's tokenizer against Hugging Face `tokenizers` (the Rust original).

Generates a deterministic corpus (seeded; >= 10,000 strings: code, CJK, emoji with ZWJ sequences
and skin tones, combining marks, whitespace runs, digit runs, punctuation, contractions, special-
token text inside text, very long words, noncharacters / private use / control / bidi code points,
mixed scripts, random code points) and encodes it with every fixture tokenizer, with and without
special tokens, through `tokenizers.Tokenizer.from_file(tokenizer.json)` and through
`dpo tokenize --file` (one process per tokenizer and mode). The ids must be identical.
When `dpo tokenize` offers --decode, decode(ids) (and with skip_special_tokens) is compared too,
against tokenizers' decode followed by transformers' clean-up where transformers applies it
(decode_cleans_up). --transformers also reports, without failing, where transformers'
AutoTokenizer disagrees with tokenizers.

usage: tests/parity/tokenizer_diff.py [--dpo BINARY] [--wait SECONDS] [--count N] [--seed S]
                                      [--only NAME] [--show K] [--keep DIR]
exit: 0 all identical; 1 a mismatch (or an error); 77 `tokenizers` is not importable (CTest
SKIP_RETURN_CODE), except with CI=true, where a missing reference is a failure (1).
"""
import argparse
import json
import os
import random
import subprocess
import shutil
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
TOKENIZERS = [
    ("mistral", "tokenizers/mistral"),
    ("llama3", "tokenizers/llama3"),
    ("qwen3", "tokenizers/qwen3"),
    ("hf-llama", "hf/llama/model"),
    ("hf-qwen2", "hf/qwen2/model"),
    ("hf-llama3rope", "hf/llama3rope/model"),
]
SKIP = 77
TEMP_DIRS = []  # removed at exit (not with --keep)


def temp_dir(prefix):
    path = tempfile.mkdtemp(prefix=prefix)
    TEMP_DIRS.append(path)
    return path


def missing_reference(what):
    if os.environ.get("CI", "").lower() == "true":
        print(f"tokenizer_diff: {what} is not importable, and CI=true: failing", file=sys.stderr)
        sys.exit(1)
    print(f"tokenizer_diff: SKIP: {what} is not importable (pip install tokenizers)", file=sys.stderr)
    sys.exit(SKIP)


# ------------------------------------------------------------------------------------ corpus

WORDS = ("the of and to in is you that it he was for on are as with his they at be this from "
         "have or by one had not but what all were when we there can an your which their said if "
         "do will each about how up out them then she many some so these would other into has "
         "more her two like him see time could no make than first been its who now people my "
         "made over did down only way find use may water long little very after words called "
         "just where most know tokenizer preference optimisation gradient Dublin Cork Ireland "
         "naïve café résumé coöperate Straße façade jalapeño").split()
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M",
                "'LL", "'D", "\u2019s", "\u2019t", "\u2019re", "n't", "N'T", "'", "''", "'x"]
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u2000", "\u2002", "\u2003", "\u2009",
          "\u200a", "\u202f", "\u205f", "\u3000", "\u2028", "\u2029", "\u0085", "\u000b",
          "\u000c", "\u1680", "\u180e", "\u200b", "\ufeff", "\u2060", "\u00ad"]
PUNCT_ASCII = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
PUNCT_UNI = ("\u00a1\u00bf\u2010\u2011\u2012\u2013\u2014\u2015\u2018\u2019\u201a\u201c\u201d"
             "\u201e\u2020\u2021\u2022\u2026\u2030\u2032\u2033\u2039\u203a\u203c\u2047\u3001"
             "\u3002\u300c\u300d\u300e\u300f\u3010\u3011\uff01\uff08\uff09\uff0c\uff0e\uff1a"
             "\uff1b\uff1f\u00ab\u00bb\u00a7\u00b6\u00b7\u055d\u060c\u061f\u0964\u0965\u2e2e")
SCRIPTS = {
    "latin": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "latin-ext": "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿāăąćčďđēėęěğīıłńňőœřśşšťūůűźżžßÀÉÎÕÜŁŒŞ",
    "greek": "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩάέήίόύώϊϋΐ",
    "cyrillic": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯіїєґ",
    "armenian": "աբգդեզէըթժիլխծկհձղճմյնշոչպջռսվտրցւփքօֆ",
    "georgian": "აბგდევზთიკლმნოპჟრსტუფქღყშჩცძწჭხჯჰ",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשתםןףץך",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأؤإئة",
    "devanagari": "अआइईउऊऋएऐओऔकखगघङचछजझञटठडढणतथदधनपफबभमयरलवशषसह" + "ािीुूृेैोौंः्",
    "bengali": "অআইঈউঊঋএঐওঔকখগঘঙচছজঝঞটঠডঢণতথদধনপফবভমযরলশষসহ",
    "tamil": "அஆஇஈஉஊஎஏஐஒஓஔகஙசஞடணதநபமயரலவழளறன",
    "thai": "กขฃคฅฆงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรฤลฦวศษสหฬอฮะัาำิีึืุูเแโใไ่้๊๋",
    "lao": "ກຂຄງຈຊຍດຕຖທນບປຜຝພຟມຢຣລວສຫອຮ",
    "khmer": "កខគឃងចឆជឈញដឋឌឍណតថទធនបផពភមយរលវសហឡអ",
    "ethiopic": "ሀሁሂሃሄህሆለሉሊላሌልሎሐሑሒሓሔሕሖመሙሚማሜምሞ",
    "hangul": "".join(chr(c) for c in range(0xAC00, 0xAC00 + 400, 7)),
    "hiragana": "".join(chr(c) for c in range(0x3041, 0x3097)),
    "katakana": "".join(chr(c) for c in range(0x30A1, 0x30FB)),
    "han": "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可"
           "她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三"
           "已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女"
           "龘齉爨麤灪鬱㐀㐁𠀀𠀁𪚥𫝀",
}
EMOJI = ["😀", "😂", "🥲", "🤖", "👍", "🙏", "🔥", "✨", "🎉", "❤️", "☺️", "✌️", "⚽", "🇮🇪", "🇯🇵",
         "🇺🇸", "🏴‍☠️", "🏳️‍🌈", "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
         "1️⃣", "#️⃣", "*️⃣", "©️", "™️", "🅰️", "🈶", "🀄", "🃏", "🫠", "🫶", "🪿", "🧑‍💻", "👩‍🔬",
         "👨‍👩‍👧‍👦", "👩‍❤️‍💋‍👨", "🧑‍🤝‍🧑", "👁️‍🗨️", "🐻‍❄️", "❤️‍🔥", "😶‍🌫️", "🫱🏻‍🫲🏿"]
SKIN = ["\U0001f3fb", "\U0001f3fc", "\U0001f3fd", "\U0001f3fe", "\U0001f3ff"]
SKINNABLE = ["👋", "👍", "👏", "🙌", "🤝", "🧑", "👩", "👨", "🧒", "🏃", "🏊", "💪", "🤞", "🫶",
             "🧑\u200d💻", "👩\u200d🚀", "🏃\u200d♀️", "🤷\u200d♂️"]
COMBINING = [chr(c) for c in list(range(0x0300, 0x0370)) + list(range(0x1AB0, 0x1ABF)) +
             list(range(0x1DC0, 0x1DD0)) + list(range(0x20D0, 0x20F1)) + list(range(0xFE20, 0xFE30))]
ODD = ([chr(c) for c in range(0x00, 0x20)] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)] +
       ["\ufffe", "\uffff", "\ufffd", "\ufffc", "\U0001fffe", "\U0001ffff", "\U0010fffe",
        "\U0010ffff", "\U000efffe"] + [chr(c) for c in range(0xFDD0, 0xFDF0, 3)] +
       ["\ue000", "\ue001", "\uf8ff", "\uf000", "\U000f0000", "\U000ffffd", "\U00100000",
        "\U0010fffd"] +
       ["\u200e", "\u200f", "\u061c", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066",
        "\u2067", "\u2068", "\u2069", "\u200c", "\u200d", "\u034f", "\ufe0f", "\ufe0e",
        "\U000e0001", "\U000e0020", "\U000e007f", "\U000e0100", "\U0001d173", "\u17b4"])
DIGITS = ["0123456789", "٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "०१२३४५६७८९", "０１２３４５６７８９",
          "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗", "①②③④⑤⑥⑦⑧⑨", "¹²³⁴⁵⁶⁷⁸⁹⁰", "½¾⅓⅔ⅠⅡⅢⅣ"]
GENERIC_SPECIALS = ["<s>", "</s>", "<unk>", "<pad>", "<|im_start|>", "<|im_end|>", "<|endoftext|>",
                    "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>",
                    "<|end_header_id|>", "<think>", "</think>", "<tool_call>", "</tool_call>",
                    "[INST]", "[/INST]", "<<SYS>>", "<</SYS>>", "<|user|>", "<|assistant|>",
                    "<|system|>", "<|fim_prefix|>", "<|reserved_special_token_0|>",
                    "<|reserved_special_token_250|>", "<mask>", "<|im_start", "im_end|>", "<|",
                    "|>", "<s", "/s>", "<<s>>", "<</s>", "<s></s>", "<|<|im_start|>|>"]


def special_token_texts():
    """The added tokens of every fixture tokenizer, plus look-alikes."""
    found = set(GENERIC_SPECIALS)
    for _, rel in TOKENIZERS:
        with open(os.path.join(FIXTURES, rel, "tokenizer.json"), encoding="utf-8") as f:
            for token in json.load(f).get("added_tokens", []):
                found.add(token["content"])
    return sorted(found)


def code_snippet(r):
    name = lambda: r.choice(["x", "i", "foo", "bar_baz", "camelCase", "PascalCase", "_private",
                             "__dunder__", "snake_case_name", "HTTPServer", "getURL2", "tmp1",
                             "αβ", "変数", "名前", "ñandú"])
    ind = r.choice(["", "  ", "    ", "\t", "\t\t", "        ", "   "])
    nl = r.choice(["\n", "\n", "\r\n", "\n\n", "\n" + ind])
    num = str(r.choice([0, 1, 7, 42, 100, 1234, 65536, 3141592653, -1]))
    templates = [
        f"def {name()}({name()}, {name()}={num}):{nl}{ind}return {name()} + {num}{nl}",
        f"for (int {name()} = 0; {name()} < {num}; ++{name()}) {{{nl}{ind}{name()}[{name()}] += {num};{nl}}}",
        f"#include <{r.choice(['vector', 'string', 'cstdio', 'torch/torch.h'])}>{nl}int main() {{ return {num}; }}",
        f"const {name()} = ({name()}) => {{ console.log(`${{{name()}}}: {num}`); }};",
        f'{{"{name()}": {num}, "{name()}": [{num}, null, true, "a\\"b"], "k": {{}}}}',
        f"if [ -z \"${name()}\" ]; then{nl}{ind}echo \"$({name()} --flag={num})\" >&2; exit 1{nl}fi",
        f"SELECT {name()}, COUNT(*) FROM {name()} WHERE {name()} >= {num} GROUP BY 1;",
        f"fn {name()}<'a>(x: &'a str) -> Result<Vec<u8>, Box<dyn Error>> {{ Ok(vec![{num}]) }}",
        f"{name()}:{nl}  - {name()}: {num}{nl}  - {name()}: \"{name()}\"{nl}",
        f"<div class=\"{name()}\" id='{name()}'>&nbsp;&lt;{num}&gt;</div>",
        f"x = [{', '.join(str(r.randint(-999, 99999)) for _ in range(r.randint(1, 12)))}]",
        f"    # TODO({name()}): fix {name()}!!{nl}{ind}pass",
        f"auto {name()} = std::make_unique<{name()}>({num});  // {r.choice(WORDS)}",
        f"printf(\"%d %s\\n\", {num}, \"{r.choice(WORDS)}\");",
        f"a={num};b=a**2//3%7^~a|a&1<<2>>1;c=a!=b and a<=b or not a>=b",
        f"{ind}{name()} = lambda *args, **kwargs: {{**kwargs, 'n': len(args)}}",
        f"https://example.com/{name()}?q={num}&lang=en#sec-{num}",
        f"git commit -m \"{r.choice(WORDS)} {r.choice(WORDS)}\" && git push origin HEAD:refs/heads/{name()}",
    ]
    return "".join(r.choice(templates) for _ in range(r.randint(1, 4)))


def words(r, n, script=None):
    out = []
    for _ in range(n):
        if script is None:
            out.append(r.choice(WORDS))
        else:
            chars = SCRIPTS[script]
            out.append("".join(r.choice(chars) for _ in range(r.randint(1, 9))))
    return out


def sentence(r, n=None, script=None):
    n = n or r.randint(1, 14)
    w = words(r, n, script)
    if script is None and w:
        w[0] = w[0].capitalize()
    return " ".join(w) + r.choice([".", "!", "?", "", ",", "...", ":"])


def repo_text_chunks(r, n):
    """Pieces of this checkout's own sources and docs: real code and prose (C++, Markdown, YAML,
    Python, shell), cut at random points (so also mid-word and mid-line)."""
    files = []
    for top in ("src", "docs", "examples", "scripts", "tests"):
        for base, dirs, names in os.walk(os.path.join(ROOT, top)):
            dirs[:] = sorted(d for d in dirs if d not in ("fixtures", "node_modules", "out"))
            for name in sorted(names):
                if name.endswith((".cpp", ".h", ".md", ".yaml", ".py", ".sh", ".mjs", ".txt")):
                    files.append(os.path.join(base, name))
    for name in ("README.md", "CMakeLists.txt"):
        if os.path.exists(os.path.join(ROOT, name)):
            files.append(os.path.join(ROOT, name))
    texts = []
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        if text:
            texts.append(text)
    out = []
    for _ in range(n if texts else 0):
        text = r.choice(texts)
        start = r.randrange(len(text))
        out.append(text[start:start + r.choice([20, 80, 300, 1000, 3000])])
    return out


def make_corpus(seed, count):
    r = random.Random(seed)
    specials = special_token_texts()
    scripts = sorted(SCRIPTS)
    out = []

    def cjk(r):
        han = SCRIPTS["han"]
        parts = []
        for _ in range(r.randint(1, 6)):
            kind = r.random()
            if kind < 0.4:
                parts.append("".join(r.choice(han) for _ in range(r.randint(1, 20))))
            elif kind < 0.6:
                parts.append("".join(r.choice(SCRIPTS["hiragana"] + SCRIPTS["katakana"])
                                     for _ in range(r.randint(1, 12))))
            elif kind < 0.8:
                parts.append(" ".join(words(r, r.randint(1, 4), "hangul")))
            else:
                parts.append(r.choice(["。", "、", "！", "？", "「", "」", "（", "）", "，", "：",
                                       " ", "ー", "〜", "・", "ABC", "123", "ｶﾀｶﾅ", "ﾞ", "㍿"]))
        return "".join(parts)

    def emoji(r):
        parts = []
        for _ in range(r.randint(1, 8)):
            k = r.random()
            if k < 0.35:
                parts.append(r.choice(EMOJI))
            elif k < 0.6:
                parts.append(r.choice(SKINNABLE) + r.choice(SKIN))
            elif k < 0.75:  # a ZWJ family made up on the spot, with skin tones
                parts.append("\u200d".join(r.choice(SKINNABLE[:9]) + r.choice([""] + SKIN)
                                           for _ in range(r.randint(2, 4))))
            elif k < 0.85:
                parts.append(chr(r.randint(0x1F300, 0x1FAFF)))
            else:
                parts.append(r.choice([" ", "", "word", " hi", "\n", "!", "🏽", "\u200d", "\ufe0f"]))
        return "".join(parts)

    def combining(r):
        parts = []
        for _ in range(r.randint(1, 6)):
            k = r.random()
            base = r.choice(SCRIPTS["latin"] + SCRIPTS["greek"] + SCRIPTS["cyrillic"] + " 0")
            if k < 0.5:
                parts.append(base + "".join(r.choice(COMBINING) for _ in range(r.randint(1, 6))))
            elif k < 0.7:  # Zalgo
                parts.append("".join(c + "".join(r.choice(COMBINING) for _ in range(r.randint(0, 4)))
                                     for c in r.choice(WORDS)))
            elif k < 0.85:
                parts.append(r.choice(["Việt Nam", "Tiếng Việt có dấu", "Ångström", "Å", "é",
                                       "e\u0301", "A\u030a", "\u1e9b\u0323", "ﬁ ﬂ ﬃ", "Ⅻ", "㎏",
                                       "ǅ", "ᾈ", "ΐ", "\u0958", "क़", "\u1100\u1161\u11a8", "각",
                                       "ñ", "n\u0303", "ö", "o\u0308", "\u0345", "ﷺ", "ﷻ"]))
            else:
                parts.append(r.choice(COMBINING))  # a mark with no base
            parts.append(r.choice(["", " ", " ", "-", "\n"]))
        return "".join(parts)

    def whitespace(r):
        parts = []
        for _ in range(r.randint(1, 8)):
            k = r.random()
            if k < 0.45:
                parts.append("".join(r.choice(SPACES[:7]) * r.randint(1, 5)
                                     for _ in range(r.randint(1, 4))))
            elif k < 0.7:
                parts.append(r.choice(SPACES) * r.randint(1, 4))
            else:
                parts.append(r.choice(WORDS + ["x", "1", ".", "(", "日本", "é"]))
        return "".join(parts)

    def digits(r):
        parts = []
        for _ in range(r.randint(1, 5)):
            k = r.random()
            d = DIGITS[0] if r.random() < 0.6 else r.choice(DIGITS)
            run = "".join(r.choice(d) for _ in range(r.randint(1, 40)))
            if k < 0.3:
                parts.append(run)
            elif k < 0.5:
                parts.append(f"{r.randint(0, 10**9):,}" if r.random() < 0.5 else
                             f"{r.uniform(-1e6, 1e6):.{r.randint(0, 8)}f}")
            elif k < 0.65:
                parts.append(r.choice(WORDS) + run + r.choice(["", "px", "kg", "%", "th", "e10"]))
            elif k < 0.8:
                parts.append(f"{r.randint(1900, 2099)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"
                             f"T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:00Z")
            else:
                parts.append(f"+{r.randint(1, 999)} ({r.randint(0, 999)}) {r.randint(0, 9999999)}")
            parts.append(r.choice([" ", "", ", ", "\n", "."]))
        return "".join(parts)

    def punctuation(r):
        pool = PUNCT_ASCII * 3 + PUNCT_UNI
        parts = []
        for _ in range(r.randint(1, 6)):
            k = r.random()
            if k < 0.4:
                parts.append("".join(r.choice(pool) for _ in range(r.randint(1, 12))))
            elif k < 0.6:
                parts.append(r.choice(pool) * r.randint(2, 30))
            elif k < 0.8:
                parts.append(r.choice(WORDS) + r.choice(pool))
            else:
                parts.append(r.choice(["...", "?!", "--", "->", "=>", "::", "!==", "<=>", "/*", "*/",
                                       "``", "''", '""', "„“", "«»", "(!)", "[...]", "—", "…"]))
            parts.append(r.choice(["", " ", " ", "\n"]))
        return "".join(parts)

    def contractions(r):
        parts = []
        for _ in range(r.randint(1, 8)):
            w = r.choice(WORDS + ["I", "you", "they", "it", "don", "can", "won", "O", "rock",
                                  "Y", "ma", "e"])
            if r.random() < 0.3:
                w = w.upper()
            parts.append(w + r.choice(CONTRACTIONS) + r.choice(["", " ", "  ", "\n", ".", "'"]))
        parts.append(r.choice(["", "'", "'s", " 's", " 'S"]))
        return "".join(parts)

    def special_text(r):
        parts = []
        for _ in range(r.randint(1, 7)):
            k = r.random()
            if k < 0.45:
                parts.append(r.choice(specials))
            elif k < 0.55:
                parts.append(r.choice(GENERIC_SPECIALS))
            else:
                parts.append(sentence(r, r.randint(1, 5)) if r.random() < 0.7 else
                             r.choice(["", " ", "\n", "  ", "user", "assistant\n", "日本"]))
            parts.append(r.choice(["", "", " ", "\n", "  ", "\t"]))
        return "".join(parts)

    def long_word(r):
        k = r.random()
        n = r.randint(100, 3000)
        if k < 0.2:
            return r.choice(SCRIPTS["latin"]) * n
        if k < 0.4:
            return "".join(r.choice(SCRIPTS["latin"]) for _ in range(n))
        if k < 0.5:
            return r.choice(WORDS) * (n // 5)
        if k < 0.6:
            return "".join(r.choice("0123456789") for _ in range(n))
        if k < 0.7:
            return r.choice([" ", "\n", "\t", "\u00a0", "-", "=", "ab"]) * n
        if k < 0.8:
            return "".join(r.choice(SCRIPTS["han"]) for _ in range(n // 3))
        if k < 0.9:
            return "".join(r.choice(SCRIPTS[r.choice(scripts)]) for _ in range(n // 2))
        return "x" + "".join(r.choice(COMBINING) for _ in range(n // 4))

    def odd(r):
        parts = []
        for _ in range(r.randint(1, 8)):
            k = r.random()
            if k < 0.5:
                parts.append(r.choice(ODD) * r.randint(1, 3))
            elif k < 0.7:
                parts.append(chr(r.randint(0xE000, 0xF8FF)))
            elif k < 0.8:
                parts.append(chr(r.choice([r.randint(0xF0000, 0xFFFFD), r.randint(0x100000, 0x10FFFD)])))
            else:
                parts.append(r.choice(WORDS + ["שלום", "مرحبا", "abc", " ", "1"]))
        return "".join(parts)

    def mixed(r):
        parts = []
        for _ in range(r.randint(2, 8)):
            k = r.random()
            if k < 0.6:
                parts.append(" ".join(words(r, r.randint(1, 3), r.choice(scripts))))
            elif k < 0.8:
                parts.append(sentence(r, r.randint(1, 4)))
            else:
                parts.append(r.choice([cjk, emoji, digits, punctuation])(r))
            parts.append(r.choice([" ", "", "\n", ", ", " - "]))
        return "".join(parts)

    def random_points(r):
        s = []
        for _ in range(r.randint(1, 20)):
            plane = r.choice([0, 0, 0, 1, 1, 2, 3, 14, 15, 16])
            while True:
                c = plane * 0x10000 + r.randint(0, 0xFFFF)
                if not 0xD800 <= c <= 0xDFFF:
                    break
            s.append(chr(c))
        return "".join(s)

    def prose(r):
        return r.choice(["", " ", "\n"]) + " ".join(sentence(r) for _ in range(r.randint(1, 5)))

    kinds = [(code_snippet, 14), (cjk, 9), (emoji, 9), (combining, 7), (whitespace, 10),
             (digits, 7), (punctuation, 6), (contractions, 7), (special_text, 9), (long_word, 2),
             (odd, 7), (mixed, 9), (random_points, 5), (prose, 7)]
    # fixed edge cases and the Python-made fixture cases first
    out += ["", " ", "  ", "\n", "\t", "\r\n", "\u00a0", "a", "A", " a", "a ", "\x00", "\ufeff",
            "\u180e", " \u180e ", "\u180e\u180e", "'", "''", "'s", " 's", "1", "12", "123", "1234",
            "12345", "<s>", "</s>", " </s>", "<s> ", "<|im_start|>", " <|im_end|> ",
            "<|begin_of_text|>", "▁", "▁▁", "▁a", "<0x41>", "<0x0A>", "\u2581 \u2581",
            "a" * 10000, " " * 5000, "\n" * 3000, "ab " * 3000, "1" * 5000, "日本" * 2000]
    out += [chr(c) for c in range(0x20, 0x7F)]
    with open(os.path.join(FIXTURES, "tokenizer_cases.json"), encoding="utf-8") as f:
        for cases in json.load(f).values():
            out += [c["text"] for c in cases]
    for s in special_token_texts():
        out += [s, " " + s, s + " ", "x" + s + "y", s + s]
    out += repo_text_chunks(r, count // 8)
    weights = [w for _, w in kinds]
    while len(out) < count:
        make = r.choices([k for k, _ in kinds], weights)[0]
        s = make(r)
        if r.random() < 0.15:  # glue two kinds together
            s += r.choice(["", " ", "\n"]) + r.choices([k for k, _ in kinds], weights)[0](r)
        out.append(s)
    return out


# --------------------------------------------------------------------------------- comparing

def clean_up_tokenization(text):
    """transformers' PreTrainedTokenizerBase.clean_up_tokenization."""
    for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                 (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(a, b)
    return text


def decode_cleans_up(tokenizer_dir):
    """Whether transformers (5.23, pinned in requirements.txt) applies clean_up_tokenization after
    decode: clean_up_tokenization_spaces in tokenizer_config.json, but never for a BPE model unless
    clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output is set too
    (tokenization_utils_tokenizers.py, TokenizersBackend._decode)."""
    config_path = os.path.join(tokenizer_dir, "tokenizer_config.json")
    if not os.path.exists(config_path):
        return False
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    if config.get("clean_up_tokenization_spaces") is not True:
        return False
    with open(os.path.join(tokenizer_dir, "tokenizer.json"), encoding="utf-8") as f:
        model_type = json.load(f).get("model", {}).get("type", "BPE")
    return model_type != "BPE" or config.get(
        "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output") is True


def run_dpo(dpo, tokenizer_dir, corpus_path, no_special, decode, out_path):
    cmd = [dpo, "tokenize", "--tokenizer", tokenizer_dir, "--file", corpus_path]
    if no_special:
        cmd.append("--no-special")
    if decode:
        cmd.append("--decode")
    with open(out_path, "wb") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: "
                           f"{proc.stderr.decode('utf-8', 'replace')[-2000:]}")
    rows = []
    with open(out_path, "rb") as f:
        for line in f:
            rows.append(json.loads(line))
    return rows


def short(ids, limit=40):
    return str(ids) if len(ids) <= limit else f"{ids[:limit]}... ({len(ids)} ids)"


def first_diff(a, b):
    i = 0
    while i < len(a) and i < len(b) and a[i] == b[i]:
        i += 1
    return i


def check_fixtures(Tokenizer):
    """The reference against tests/fixtures/tokenizer_cases.json (made with the Python stack, and
    what tests/tokenizer/fixture_cases_test.cpp holds dpo to): a disagreement means the reference
    or the fixtures moved, and this comparison would no longer mean what it says."""
    with open(os.path.join(FIXTURES, "tokenizer_cases.json"), encoding="utf-8") as f:
        cases = json.load(f)
    total = differ = 0
    for name, items in cases.items():
        ref = Tokenizer.from_file(os.path.join(FIXTURES, "tokenizers", name, "tokenizer.json"))
        for c in items:
            total += 1
            if (ref.encode(c["text"]).ids != c["ids"] or
                    ref.encode(c["text"], add_special_tokens=False).ids != c["ids_no_special"]):
                differ += 1
                print(f"  fixture {name} {ascii(c['text'])[:100]}: tokenizers "
                      f"{short(ref.encode(c['text']).ids, 16)}, fixture {short(c['ids'], 16)}")
    print(f"tokenizers vs tokenizer_cases.json: {total - differ} / {total} agree")
    return 1 if differ else 0


def report_transformers(tokenizer_dir, corpus, expected, got, no_special, show):
    """Informational: transformers' AutoTokenizer against tokenizers (and dpo) on the corpus."""
    try:
        import transformers
        from transformers import AutoTokenizer
    except ImportError:
        print("  transformers: not importable, not compared")
        return
    tf = AutoTokenizer.from_pretrained(tokenizer_dir)
    ids = tf(corpus, add_special_tokens=not no_special)["input_ids"]
    differ = [i for i in range(len(corpus)) if ids[i] != expected[i]]
    dpo_equal = sum(1 for i in differ if got[i]["ids"] == ids[i])
    print(f"  note: transformers {transformers.__version__} ({type(tf).__name__}) differs from "
          f"tokenizers on {len(differ)} / {len(corpus)} strings (dpo equals transformers on "
          f"{dpo_equal} of those)")
    for i in differ[:show]:
        print(f"    #{i} {ascii(corpus[i])[:120]}: tokenizers {short(expected[i], 12)}, "
              f"transformers {short(ids[i], 12)}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dpo", default=os.environ.get("DPO"),
                   help="dpo binary (default: $DPO, else build-debian/dpo, else build/dpo)")
    p.add_argument("--wait", type=float, default=0,
                   help="seconds to wait for the dpo binary to appear (it may be building)")
    p.add_argument("--count", type=int, default=12000, help="corpus size (>= 10000 by default)")
    p.add_argument("--seed", type=int, default=20261202)
    p.add_argument("--only", action="append", help="only this tokenizer (repeatable)")
    p.add_argument("--show", type=int, default=5, help="mismatches shown per tokenizer and mode")
    p.add_argument("--keep", help="write the corpus and dpo's outputs into this folder")
    p.add_argument("--no-decode", action="store_true", help="do not compare decode")
    p.add_argument("--transformers", action="store_true",
                   help="also report (without failing) where transformers' AutoTokenizer differs "
                        "from tokenizers (transformers 5 rebuilds Llama/SentencePiece tokenizers)")
    args = p.parse_args()

    try:
        from tokenizers import Tokenizer
        import tokenizers
    except ImportError:
        missing_reference("tokenizers")

    dpo = args.dpo
    candidates = [dpo] if dpo else [os.path.join(ROOT, "build-debian", "dpo"),
                                     os.path.join(ROOT, "build", "dpo")]
    deadline = time.time() + args.wait
    while True:
        found = [c for c in candidates if os.path.isfile(c) and os.access(c, os.X_OK)]
        if found or time.time() >= deadline:
            break
        time.sleep(10)
    if not found:
        print(f"tokenizer_diff: no dpo binary at {' or '.join(candidates)} (build it, or pass --dpo)",
              file=sys.stderr)
        return 1
    dpo = found[0]
    help_text = subprocess.run([dpo, "tokenize", "--help"], capture_output=True, text=True).stdout
    decode = "--decode" in help_text and not args.no_decode

    t0 = time.time()
    corpus = make_corpus(args.seed, args.count)
    work = args.keep or temp_dir("tokenizer_diff.")
    os.makedirs(work, exist_ok=True)
    corpus_path = os.path.join(work, "corpus.jsonl")
    with open(corpus_path, "w", encoding="ascii") as f:
        for s in corpus:
            f.write(json.dumps({"text": s}, ensure_ascii=True) + "\n")
    print(f"tokenizer_diff: {len(corpus)} strings ({os.path.getsize(corpus_path) / 1e6:.1f} MB "
          f"as JSON lines), seed {args.seed}; tokenizers {tokenizers.__version__}; dpo {dpo}"
          f"{'' if decode else '; decode not compared (dpo tokenize has no --decode)'}")

    failures = 0
    failures += check_fixtures(Tokenizer)
    selected = [t for t in TOKENIZERS if not args.only or t[0] in args.only]
    for name, rel in selected:
        tokenizer_dir = os.path.join(FIXTURES, rel)
        ref = Tokenizer.from_file(os.path.join(tokenizer_dir, "tokenizer.json"))
        clean_up = decode_cleans_up(tokenizer_dir)
        for no_special in (False, True):
            label = f"{name} ({'add_special_tokens=False' if no_special else 'add_special_tokens=True'})"
            expected = [e.ids for e in ref.encode_batch(corpus, add_special_tokens=not no_special)]
            out_path = os.path.join(work, f"dpo_{name}{'_ns' if no_special else ''}.jsonl")
            try:
                got = run_dpo(dpo, tokenizer_dir, corpus_path, no_special, decode, out_path)
            except RuntimeError as e:
                print(f"{label}: FAILED: {e}")
                failures += 1
                continue
            if len(got) != len(corpus):
                print(f"{label}: FAILED: dpo gave {len(got)} lines for {len(corpus)} strings")
                failures += 1
                continue
            bad = [i for i in range(len(corpus)) if got[i]["ids"] != expected[i]]
            bad_set = set(bad)
            line = f"{label}: {len(corpus) - len(bad)} / {len(corpus)} identical ids"
            bad_decode = []
            if decode:
                for skip in (False, True):
                    ref_text = ref.decode_batch(expected, skip_special_tokens=skip)
                    key = "decoded_skip_special" if skip else "decoded"
                    for i in range(len(corpus)):
                        want = clean_up_tokenization(ref_text[i]) if clean_up else ref_text[i]
                        if i not in bad_set and got[i].get(key) != want:
                            bad_decode.append((i, skip, want, got[i].get(key)))
                line += f"; decode: {2 * len(corpus) - len(bad_decode)} / {2 * len(corpus)} identical"
            print(line)
            for i in bad[:args.show]:
                j = first_diff(expected[i], got[i]["ids"])
                print(f"  MISMATCH #{i}: {ascii(corpus[i])[:400]}\n"
                      f"    tokenizers: {short(expected[i])}\n    dpo:        {short(got[i]['ids'])}\n"
                      f"    first difference at id {j}: tokenizers {expected[i][j:j + 8]} "
                      f"{[ref.id_to_token(t) for t in expected[i][j:j + 8]]}, dpo "
                      f"{got[i]['ids'][j:j + 8]}")
            for i, skip, want, have in bad_decode[:args.show]:
                have = have if isinstance(have, str) else ""
                j = first_diff(want, have)
                at = max(0, j - 30)
                print(f"  DECODE MISMATCH #{i} (skip_special_tokens={skip}): {ascii(corpus[i])[:200]}\n"
                      f"    ids:        {short(expected[i])}\n"
                      f"    first difference at character {j}:\n"
                      f"    tokenizers: {ascii(want[at:j + 50])}\n    dpo:        {ascii(have[at:j + 50])}")
            if bad or bad_decode:
                failures += 1
            if args.transformers:
                report_transformers(tokenizer_dir, corpus, expected, got, no_special, args.show)
    print(f"tokenizer_diff: {'FAILED' if failures else 'OK'} ({len(selected)} tokenizers x 2 modes, "
          f"{time.time() - t0:.0f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        code = main()
    finally:
        for path in TEMP_DIRS:
            shutil.rmtree(path, ignore_errors=True)
    sys.exit(code)
