#include "data/corpus_mix.h"

#include <algorithm>
#include <iterator>
#include <utility>
#include <vector>

#include "data/build.h"
#include "util/check.h"
#include "util/log.h"

namespace hf {

namespace {

constexpr const char* kParts[] = {"sotu", "moby-dick", "spam-assassin"};
constexpr const char* kUsage =
    "give --prepare.input PART=FOLDER,... with parts sotu, moby-dick, spam-assassin "
    "(e.g. sotu=data/cache/sotu,moby-dick=data/cache/moby-dick,spam-assassin=data/cache/spam-assassin)";

std::vector<std::pair<std::string, std::string>> parse_parts(const std::string& input) {
  std::vector<std::pair<std::string, std::string>> parts;
  for (size_t a = 0; a <= input.size();) {
    size_t b = std::min(input.find(',', a), input.size());
    std::string item = input.substr(a, b - a);
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      fail("--prepare.input item '" + item + "' is not PART=FOLDER", kUsage);
    std::string part = item.substr(0, eq);
    if (std::find(std::begin(kParts), std::end(kParts), part) == std::end(kParts))
      fail("--prepare.input names an unknown part '" + part + "'", kUsage);
    for (auto& [seen, _] : parts)
      if (seen == part) fail("--prepare.input names part '" + part + "' twice", kUsage);
    parts.push_back({part, item.substr(eq + 1)});
    a = b + 1;
  }
  return parts;
}

Corpus read_part(const std::string& part, const std::string& folder) {
  if (part == "sotu") return read_corpus("sotu", folder);
  if (part == "spam-assassin") return read_corpus("spam", folder);
  Corpus c = read_corpus("text_dir", folder);
  c.docs.erase(std::remove_if(c.docs.begin(), c.docs.end(), [](const Document& d) { return d.meta.at("file") == "data.txt"; }),
               c.docs.end());
  return c;
}

// (D) 1 = the document is in the test split of a labelled task on this part.
std::vector<uint8_t> held_out(const std::string& part, const Corpus& c, double holdout, uint64_t seed) {
  std::vector<uint8_t> out(c.docs.size(), 0);
  if (holdout <= 0 || part == "moby-dick") return out;
  auto mark = [&](const std::vector<int32_t>& doc_class, int n_classes) {
    std::vector<uint8_t> test = test_documents(doc_class, n_classes, holdout, seed);
    for (size_t d = 0; d < out.size(); d++) out[d] |= test[d];
  };
  std::vector<int32_t> classes(c.docs.size());
  if (part == "spam-assassin") {
    for (const char* kind : {"spam", "spam3"}) {
      for (size_t d = 0; d < c.docs.size(); d++) classes[d] = mail_class(kind, c.docs[d].meta.at("group"));
      mark(classes, kind == std::string("spam") ? 2 : 3);
    }
  } else {
    for (size_t d = 0; d < c.docs.size(); d++) {
      const std::string& era = c.docs[d].meta.at("era");
      auto it = std::find_if(std::begin(kSotuEras), std::end(kSotuEras), [&](const SotuEra& e) { return era == e.name; });
      classes[d] = static_cast<int32_t>(it - std::begin(kSotuEras));
    }
    mark(classes, static_cast<int>(std::size(kSotuEras)));
  }
  return out;
}

}  // namespace

Corpus read_mix(const std::string& input, double holdout, uint64_t seed) {
  Corpus mix;
  mix.kind = "mix";
  mix.task = Task::lm;
  mix.default_field = "source";
  std::string versions;  // the parts' sources and versions
  for (auto& [part, folder] : parse_parts(input)) {
    Corpus c = read_part(part, folder);
    std::vector<uint8_t> held = held_out(part, c, holdout, seed);
    size_t kept = 0, bytes = 0;
    for (size_t d = 0; d < c.docs.size(); d++) {
      if (held[d]) continue;
      Document doc = std::move(c.docs[d]);
      doc.label = 0;  // unlabelled: the mail's ham/spam class is not kept
      doc.meta["source"] = part;
      kept++;
      bytes += doc.text.size();
      mix.docs.push_back(std::move(doc));
    }
    LOG_INFO("mix: %s: %zu of %zu documents (%zu held out as tasks' test documents), %.1f MB, from %s %s", part.c_str(),
             kept, c.docs.size(), c.docs.size() - kept, bytes / 1e6, c.source.c_str(), c.source_version.c_str());
    std::string sep = versions.empty() ? "" : "; ";
    versions += sep + part + ": " + c.source + " " + c.source_version;
    mix.source_sha256 += sep + part + ": " + c.source_sha256;
  }
  mix.source = "mix";
  mix.source_version = "(" + versions + ")";
  return mix;
}

}  // namespace hf
