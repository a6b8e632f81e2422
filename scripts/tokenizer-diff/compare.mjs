// Compares two .jsonl files of {"ids": [...]} line by line; prints counts and each mismatch with
// its text. Exit code 1 when any line differs.
// usage: node compare.mjs NAME CORPUS.jsonl REFERENCE.jsonl CANDIDATE.jsonl [MAX_SHOWN]
import fs from "fs";

const [name, corpusPath, refPath, candPath, maxShown = "20"] = process.argv.slice(2);
const lines = (p) => fs.readFileSync(p, "utf8").split("\n").filter((l) => l.length);
const texts = lines(corpusPath).map((l) => JSON.parse(l).text);
const ref = lines(refPath).map((l) => JSON.parse(l).ids);
const cand = lines(candPath).map((l) => JSON.parse(l).ids);
if (ref.length !== texts.length || cand.length !== texts.length) {
  console.log(`${name}: line counts differ: corpus ${texts.length}, reference ${ref.length}, dpo ${cand.length}`);
  process.exit(1);
}
let same = 0;
const mismatches = [];
for (let i = 0; i < texts.length; ++i) {
  if (ref[i].length === cand[i].length && ref[i].every((v, k) => v === cand[i][k])) ++same;
  else mismatches.push(i);
}
console.log(`${name}: ${same} / ${texts.length} identical (${((100 * same) / texts.length).toFixed(3)}%), ${mismatches.length} differ`);
for (const i of mismatches.slice(0, Number(maxShown))) {
  let k = 0;
  while (k < ref[i].length && ref[i][k] === cand[i][k]) ++k;
  console.log(`  line ${i + 1}: text ${JSON.stringify(texts[i]).slice(0, 160)}`);
  console.log(`    first difference at id ${k}: js ${JSON.stringify(ref[i].slice(k, k + 8))} dpo ${JSON.stringify(cand[i].slice(k, k + 8))}`);
}
process.exit(mismatches.length ? 1 : 0);
