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
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"
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
  return 0;
}
