// Lists where @huggingface/tokenizers disagrees with the Python-made fixtures
// (tests/fixtures/tokenizer_cases.json: ids and ids_no_special). The fixtures win: such cases are
// reported, and the C++ tokenizer is held to the fixtures by its gtest suite.
// usage: node js_vs_fixtures.mjs FIXTURES_DIR
import fs from "fs";
import path from "path";
import { Tokenizer } from "@huggingface/tokenizers";

const fixtures = process.argv[2];
const cases = JSON.parse(fs.readFileSync(path.join(fixtures, "tokenizer_cases.json"), "utf8"));
let total = 0, disagreements = 0;
for (const [name, list] of Object.entries(cases)) {
  const dir = path.join(fixtures, "tokenizers", name);
  const read = (f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
  const tokenizer = new Tokenizer(read("tokenizer.json"), read("tokenizer_config.json"));
  for (const c of list) {
    for (const [field, add] of [["ids", true], ["ids_no_special", false]]) {
      ++total;
      const ids = tokenizer.encode(c.text, { add_special_tokens: add }).ids;
      if (JSON.stringify(ids) !== JSON.stringify(c[field])) {
        ++disagreements;
        console.log(`  ${name} ${field} ${JSON.stringify(c.text).slice(0, 100)}: fixture ${JSON.stringify(c[field]).slice(0, 80)} js ${JSON.stringify(ids).slice(0, 80)}`);
      }
    }
  }
}
console.log(`js vs fixtures: ${total - disagreements} / ${total} agree, ${disagreements} disagreements (fixtures win)`);
