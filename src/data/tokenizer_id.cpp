#include "data/tokenizer_id.h"

#include "data/sha256.h"
#include "io/fs.h"
#include "util/check.h"

namespace hf {

std::string tokenizer_file_of_dir(const std::string& dir) {
  for (const char* name : {"tokenizer.model", "tokenizer.json"}) {
    std::string file = dir + "/" + name;
    if (path_exists(file)) return file;
  }
  fail(dir + " has neither tokenizer.json nor tokenizer.model",
       "give the Hugging Face model folder itself (the one with config.json and the tokenizer files)");
}

std::string tokenizer_id_of_dir(const std::string& dir) {
  return "sha256:" + sha256_hex(read_file(tokenizer_file_of_dir(dir)));
}

}  // namespace hf
