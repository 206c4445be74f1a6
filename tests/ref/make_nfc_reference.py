#!/usr/bin/env python3
"""Reference NFC for tests/unit/test_tokenizer_bpe.cpp, by Python's unicodedata (the version
unicode_nfc_gen.py builds the tables from): tests/data/tokenizers/nfc.jsonl holds
[input, NFC(input)] pairs: the multilingual texts taken apart (NFD) and taken apart with
compatibility mappings (NFKD), and cases for each rule (singletons, exclusions, mark
reordering, blocked marks, Hangul). Run: python3 tests/ref/make_nfc_reference.py
"""
import json
import pathlib
import unicodedata as ud

here = pathlib.Path(__file__).resolve().parents[1] / "data" / "tokenizers"
lines = [l.replace("\\n", "\n").replace("\\r", "\r").replace("\\t", "\t")
         for l in (here / "multilingual.txt").read_text(encoding="utf-8").split("\n") if l]
cases = [
    "A\u030A", "\u212B", "\u2126", "\u0958", "\u0344", "e\u0301\u0323", "e\u0323\u0301",
    "a\u0328\u0301\u0328", "a\u0301\u0301", "o\u0308\u0304", "\u1100\u1161\u11A8", "\uAC00\u11A8",
    "\u1100\u1161", "\u1100\u0301\u1161", "\u0B47\u0B3E", "\u0301a", "\u00C5\u0327", "\u1E9B\u0323",
    "\u0F73", "\u2ADC", "\U0001D15E", "\U0001109A", "\U00011099\U000110BA",
]
texts = lines + [ud.normalize("NFD", l) for l in lines] + [ud.normalize("NFKD", l) for l in lines] + cases
with open(here / "nfc.jsonl", "w", encoding="utf-8") as f:
    for t in texts:
        f.write(json.dumps([t, ud.normalize("NFC", t)], ensure_ascii=False) + "\n")
print(f"nfc.jsonl: {len(texts)} pairs, {sum(t != ud.normalize('NFC', t) for t in texts)} changed by NFC")
