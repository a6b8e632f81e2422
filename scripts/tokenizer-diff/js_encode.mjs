// Encodes every string of a corpus (.jsonl of {"text": ...}) with @huggingface/tokenizers and
// writes one {"ids": [...]} line per string.
// usage: node js_encode.mjs TOKENIZER_DIR CORPUS.jsonl OUT.jsonl [--no-special]
import fs from "fs";
import path from "path";
import { Tokenizer } from "@huggingface/tokenizers";

const [dir, corpusPath, outPath, flag] = process.argv.slice(2);
const readJson = (name) => {
  const file = path.join(dir, name);
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
};
const tokenizer = new Tokenizer(readJson("tokenizer.json"), readJson("tokenizer_config.json"));
const addSpecial = flag !== "--no-special";
const texts = fs.readFileSync(corpusPath, "utf8").split("\n").filter((l) => l.length).map((l) => JSON.parse(l).text);
const out = texts.map((text) => JSON.stringify({ ids: tokenizer.encode(text, { add_special_tokens: addSpecial }).ids }));
fs.writeFileSync(outPath, out.join("\n") + "\n");
