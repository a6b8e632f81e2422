// Writes out/corpus.jsonl: >= 10,000 strings ({"text": ...} per line) of varied real text found on
// a Debian machine (licenses, package docs, man pages, C headers) plus generated strings (many
// scripts and languages, emoji, whitespace runs, random code points, special-token look-alikes).
// Deterministic: the same machine gives the same corpus.
import fs from "fs";
import path from "path";
import zlib from "zlib";

const outDir = path.join(path.dirname(new URL(import.meta.url).pathname), "out");
fs.mkdirSync(outDir, { recursive: true });

let seed = 12345;
function random() {  // xorshift32, deterministic
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];

function readMaybeGz(file) {
  try {
    const data = fs.readFileSync(file);
    return (file.endsWith(".gz") ? zlib.gunzipSync(data) : data).toString("utf8");
  } catch { return null; }
}

function listFiles(dir, filter, limit, depth = 0, out = []) {
  let entries;
  try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return out; }
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    if (out.length >= limit) break;
    const full = path.join(dir, e.name);
    if (e.isDirectory() && depth < 4) listFiles(full, filter, limit, depth + 1, out);
    else if (e.isFile() && filter(full)) out.push(full);
  }
  return out;
}

// Cuts a document into pieces of 1..40 lines (paragraph-ish), keeping whitespace as it is.
function pieces(text, count) {
  const lines = text.split("\n");
  const out = [];
  for (let k = 0; k < count && lines.length > 0; ++k) {
    const start = Math.floor(random() * lines.length);
    const n = 1 + Math.floor(random() * 40);
    out.push(lines.slice(start, start + n).join("\n"));
  }
  return out.filter((s) => s.length > 0);
}

const corpus = [];
function addDocs(files, perFile, cap) {
  let added = 0;
  for (const f of files) {
    const text = readMaybeGz(f);
    if (!text) continue;
    for (const p of pieces(text, perFile)) { if (added >= cap) return; corpus.push(p); ++added; }
  }
}

addDocs(listFiles("/usr/share/common-licenses", () => true, 50), 60, 1200);
addDocs(listFiles("/usr/share/doc", (f) => /(copyright|README[^/]*|changelog[^/]*|NEWS[^/]*)$/.test(f), 1500), 3, 3000);
addDocs(listFiles("/usr/share/man", (f) => f.endsWith(".gz"), 800), 3, 2000);
addDocs(listFiles("/usr/include", (f) => /\.(h|hpp)$/.test(f), 1500), 2, 2500);

const sentences = [
  "The quick brown fox jumps over the lazy dog.", "Le cœur déçu mais l'âme plutôt naïve, Louÿs rêva de crapaüter.",
  "Falsches Üben von Xylophonmusik quält jeden größeren Zwerg.", "¿Qué tal? ¡Muy bien! Añejo pingüino.",
  "Съешь же ещё этих мягких французских булок, да выпей чаю.", "Τάχιστη αλώπηξ βαφής ψημένη γη, δρασκελίζει υπέρ νωθρού κυνός.",
  "你好，世界！这是一个测试。我们今天去北京。", "日本語のテキストです。カタカナとひらがな、漢字。", "한국어 문장입니다. 다람쥐 헌 쳇바퀴에 타고파.",
  "مرحبا بالعالم، هذه جملة عربية.", "שלום עולם, זה משפט בעברית.", "नमस्ते दुनिया, यह हिंदी वाक्य है।", "สวัสดีชาวโลก นี่คือประโยคภาษาไทย",
  "Tiếng Việt có dấu: Trăm năm trong cõi người ta.", "ሰላም ለዓለም", "გამარჯობა მსოფლიო", "Բարեւ աշխարհ", "வணக்கம் உலகம்",
  "ওহে বিশ্ব", "Γειά σου Κόσμε", "Merhaba dünya, İstanbul'da ığdır.", "Zażółć gęślą jaźń.", "Příliš žluťoučký kůň úpěl ďábelské ódy.",
  "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕕𝕠𝕦𝕓𝕝𝕖 𝓼𝓬𝓻𝓲𝓹𝓽", "ﬁﬂ ligatures and ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "e\u0301 vs \u00e9, n\u0303 vs \u00f1, \u1100\u1161\u11a8 vs \uac01",
  "🤖👍🏽 emoji test 🎉 👨‍👩‍👧‍👦 🏳️‍🌈 🇮🇪🇫🇷 ❤️‍🔥", "def f(x):\n    return x ** 2  # square", "for (int i = 0; i < n; ++i) { sum += a[i]; }",
  "don't won't it's we're they'll I'd I'M YOU'RE", "numbers 12345 3.14159 1,000,000 ١٢٣ ४५६ ½ ⅞ Ⅻ",
  "<s>[INST] hi [/INST]</s>", "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
  "\n\nHuman: What is the capital of Ireland?\n\nAssistant: Dublin.", "https://example.com/path?query=1&x=y#frag user@mail.org",
];
const spaces = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\u00a0", "\u3000", "\u2009", "\u200b", "\u202f", "\u2028", "\u0085", "\ufeff", "\u180e", "\v", "\f"];
function randomCodePoint() {
  const r = random();
  let cp;
  if (r < 0.3) cp = 0x20 + Math.floor(random() * 0x60);
  else if (r < 0.6) cp = 0xa0 + Math.floor(random() * 0x3000);
  else if (r < 0.8) cp = 0x3000 + Math.floor(random() * 0xa000);
  else cp = Math.floor(random() * 0x110000);
  if (cp >= 0xd800 && cp < 0xe000) cp = 0x41;
  return String.fromCodePoint(cp);
}
for (let i = 0; i < 3500; ++i) {
  const kind = i % 5;
  let s = "";
  if (kind === 0) {  // mixed sentences from many scripts
    const n = 1 + Math.floor(random() * 5);
    for (let k = 0; k < n; ++k) s += pick(sentences) + pick(spaces);
  } else if (kind === 1) {  // whitespace runs around words
    const n = 2 + Math.floor(random() * 10);
    for (let k = 0; k < n; ++k) s += (random() < 0.5 ? pick(spaces).repeat(1 + Math.floor(random() * 6)) : pick(["word", "x", "Ab", "123", "!!", "é", "中文", "'s", "_", "-"]));
  } else if (kind === 2) {  // random code points
    const n = 1 + Math.floor(random() * 40);
    for (let k = 0; k < n; ++k) s += randomCodePoint();
  } else if (kind === 3) {  // emoji and symbol soup
    const n = 1 + Math.floor(random() * 20);
    for (let k = 0; k < n; ++k) s += String.fromCodePoint(pick([0x1f600, 0x1f44d, 0x1f3fd, 0x200d, 0xfe0f, 0x2764, 0x1f1ee, 0x1f1ea, 0x1f916, 0x1f389, 0x2603, 0x20ac, 0x1f4a9]) + (random() < 0.3 ? Math.floor(random() * 50) : 0));
  } else {  // code-like text with digits and punctuation
    const n = 3 + Math.floor(random() * 30);
    for (let k = 0; k < n; ++k) s += pick(["foo", "Bar", "_baz", "42", "3.14", "0x1F", "(", ")", "{", "}", ";", "==", "->", "::", "'", "\"", "  ", "\n", "\t", "//", "/*", "*/", "#include", "<vector>", "12345678"]);
  }
  corpus.push(s);
}
// A few long documents (BPE on long words, regex on long inputs).
for (let i = 0; i < 20; ++i) corpus.push(pick(corpus).repeat(20 + Math.floor(random() * 30)));
corpus.push("", " ", "\n", "a", "<s>", "</s>", "<unk>", "<|endoftext|>", " ".repeat(5000), "a".repeat(10000), "🤖".repeat(300));

const lines = corpus.map((text) => JSON.stringify({ text }));
fs.writeFileSync(path.join(outDir, "corpus.jsonl"), lines.join("\n") + "\n");
console.log(`corpus: ${corpus.length} strings, ${Buffer.byteLength(corpus.join(""))} bytes -> ${path.join(outDir, "corpus.jsonl")}`);
