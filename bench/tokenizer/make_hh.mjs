// Writes out/hh.jsonl: HH-RLHF-style texts for the throughput benchmark. Each of ROWS rows
// ("\n\nHuman: ...\n\nAssistant: ..." dialogues built from English prose found on a Debian machine)
// gives the three strings TRL tokenizes per row: prompt, prompt+chosen, prompt+rejected.
import fs from "fs";
import path from "path";
import zlib from "zlib";

const rows = Number(process.argv[2] || 3000);
const outDir = path.join(path.dirname(new URL(import.meta.url).pathname), "out");
fs.mkdirSync(outDir, { recursive: true });
let seed = 777;
const random = () => { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed / 4294967296; };

const sentences = [];
const dir = "/usr/share/common-licenses";
for (const f of fs.readdirSync(dir).sort()) {
  const text = fs.readFileSync(path.join(dir, f), "utf8").replace(/\s+/g, " ");
  for (const s of text.split(/(?<=[.?!]) /)) if (s.length > 20 && s.length < 300) sentences.push(s.trim());
}
for (const f of fs.readdirSync("/usr/share/doc").sort().slice(0, 400)) {
  const file = path.join("/usr/share/doc", f, "changelog.Debian.gz");
  if (!fs.existsSync(file)) continue;
  const text = zlib.gunzipSync(fs.readFileSync(file)).toString("utf8").replace(/\s+/g, " ");
  for (const s of text.split(/(?<=[.?!]) /)) if (s.length > 20 && s.length < 300) sentences.push(s.trim());
}
const para = (n) => Array.from({ length: n }, () => sentences[Math.floor(random() * sentences.length)]).join(" ");
const out = [];
let bytes = 0;
for (let r = 0; r < rows; ++r) {
  let prompt = "";
  const turns = 1 + Math.floor(random() * 3);
  for (let t = 0; t < turns; ++t) {
    prompt += "\n\nHuman: " + para(1 + Math.floor(random() * 2));
    prompt += t + 1 < turns ? "\n\nAssistant: " + para(1 + Math.floor(random() * 3)) : "\n\nAssistant:";
  }
  const chosen = " " + para(1 + Math.floor(random() * 4));
  const rejected = " " + para(1 + Math.floor(random() * 4));
  for (const text of [prompt, prompt + chosen, prompt + rejected]) { out.push(JSON.stringify({ text })); bytes += Buffer.byteLength(text); }
}
fs.writeFileSync(path.join(outDir, "hh.jsonl"), out.join("\n") + "\n");
console.log(`hh: ${rows} rows, ${out.length} texts, ${bytes} bytes -> ${path.join(outDir, "hh.jsonl")}`);
