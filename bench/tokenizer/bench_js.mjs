// Encode throughput of @huggingface/tokenizers (the peer) on the same corpus as bench_tokenizer:
// MB per CPU second, first pass and second pass.
// usage: node bench_js.mjs TOKENIZER_DIR CORPUS.jsonl   (npm install in scripts/tokenizer-diff first)
import fs from "fs";
import path from "path";
import { fileURLToPath } from "url";

const here = path.dirname(fileURLToPath(import.meta.url));
const { Tokenizer } = await import(
  path.join(here, "../../scripts/tokenizer-diff/node_modules/@huggingface/tokenizers/dist/tokenizers.mjs"));
const [dir, corpusPath] = process.argv.slice(2);
const readJson = (name) => {
  const file = path.join(dir, name);
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
};
const texts = fs.readFileSync(corpusPath, "utf8").split("\n").filter((l) => l.length).map((l) => JSON.parse(l).text);
const mb = texts.reduce((n, t) => n + Buffer.byteLength(t), 0) / 1e6;
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
let start = cpu();
const tokenizer = new Tokenizer(readJson("tokenizer.json"), readJson("tokenizer_config.json"));
const load = cpu() - start;
const passes = [];
let tokens = 0;
for (let p = 0; p < 2; ++p) {
  start = cpu();
  tokens = 0;
  for (const text of texts) tokens += tokenizer.encode(text).ids.length;
  passes.push(cpu() - start);
}
console.log(JSON.stringify({ impl: "@huggingface/tokenizers 0.2.0", tokenizer: dir, texts: texts.length, mb: +mb.toFixed(3), tokens,
  load_cpu_s: +load.toFixed(3), cold_mb_s: +(mb / passes[0]).toFixed(3), warm_mb_s: +(mb / passes[1]).toFixed(3) }));
