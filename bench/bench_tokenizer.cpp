// Tokenizer throughput: loading a model folder's tokenizer and encoding a corpus with it.
//
//   bench_tokenizer --text DIR [--tokenizer MODEL_DIR]... [--reps N]
//
// DIR: a folder of .txt files (e.g. data/cache/sotu/package/data), encoded file by file.
// Each --tokenizer folder is timed (data/tokenizers.h's load_tokenizer), and byte260 always:
//   load     load_tokenizer once (JSON parse, vocabulary and merge tables)
//   encode   median of --reps passes over every file; MB/s of UTF-8 input (10^6 bytes),
//            tokens/s, and bytes per token (the compression the vocabulary gives)
// Every pass checks decode(encode(text)) == text, so a fast wrong encoder cannot report.
// Then the pre-tokeniser regexes alone (data/tokenizer_regex.h), GPT-2's, Llama-3's, Qwen2's
// and DeepSeek-V3's three, each splitting every file: median MB/s and pieces per MB.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"
#include "data/tokenizer_regex.h"
#include "data/tokenizers.h"
#include "io/fs.h"

using namespace hf;
using namespace hf::bench;

int main(int argc, char** argv) {
  std::string text_dir;
  std::vector<std::string> dirs;
  int reps = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--text")) text_dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--tokenizer")) dirs.push_back(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps")) reps = std::max(1, std::atoi(argv[i + 1]));
    else {
      std::fprintf(stderr, "error: unknown option %s; use --text DIR [--tokenizer MODEL_DIR]... [--reps N]\n", argv[i]);
      return 2;
    }
  }
  if (text_dir.empty()) {
    std::fprintf(stderr, "error: --text is not set; give a folder of .txt files\n");
    return 2;
  }
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(text_dir))
    if (e.path().extension() == ".txt") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  std::vector<std::string> texts;
  size_t bytes = 0;
  for (const std::string& f : files) {
    texts.push_back(read_file(f));
    bytes += texts.back().size();
  }
  std::printf("# bench_tokenizer: %zu files, %.2f MB from %s; %d reps; CPU %s; load %.2f\n", files.size(), bytes / 1e6,
              text_dir.c_str(), reps, cpu_model().c_str(), load_average_1min());
  std::printf("%-10s %10s %10s %12s %12s  %s\n", "tokenizer", "load s", "encode MB/s", "tokens/s", "bytes/token", "folder");
  dirs.insert(dirs.begin(), "");
  for (const std::string& dir : dirs) {
    auto t0 = clk::now();
    std::unique_ptr<Tokenizer> tok = dir.empty() ? byte260_tokenizer() : load_tokenizer(dir);
    double load_s = seconds_since(t0);
    std::vector<double> times;
    size_t tokens = 0;
    for (int r = 0; r < reps; r++) {
      tokens = 0;
      t0 = clk::now();
      for (const std::string& t : texts) tokens += tok->encode(t).size();
      times.push_back(seconds_since(t0));
    }
    for (const std::string& t : texts)
      if (tok->decode(tok->encode(t)) != t) {
        std::fprintf(stderr, "error: %s does not round-trip a text of %s\n", dir.c_str(), text_dir.c_str());
        return 1;
      }
    double s = median(times);
    std::printf("%-10s %10.2f %10.2f %12.0f %12.2f  %s\n", dir.empty() ? "byte260" : "json", load_s, bytes / 1e6 / s,
                tokens / s, static_cast<double>(bytes) / tokens, dir.empty() ? "(built in)" : dir.c_str());
  }

  struct Regex {
    const char* name;
    std::vector<std::string> patterns;  // applied in order, each to the previous pieces
  };
  const std::vector<Regex> regexes = {
      {"gpt2", {R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"}},
      {"llama3", {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}},
      {"qwen2", {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}},
      {"deepseek3",
       {R"(\p{N}{1,3})", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
        R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}},
  };
  std::printf("%-10s %12s %12s\n", "regex", "split MB/s", "pieces/MB");
  for (const Regex& r : regexes) {
    std::vector<TokenizerRegex> compiled;
    for (const std::string& p : r.patterns) compiled.emplace_back(p, "bench_tokenizer");
    std::vector<double> times;
    size_t pieces = 0;
    for (int k = 0; k < reps; k++) {
      auto t0 = clk::now();
      pieces = 0;
      for (const std::string& t : texts) pieces += split_in_turn(t, compiled).size();
      times.push_back(seconds_since(t0));
    }
    std::printf("%-10s %12.2f %12.0f\n", r.name, bytes / 1e6 / median(times), pieces / (bytes / 1e6));
  }
  return 0;
}
