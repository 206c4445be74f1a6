#pragma once
// The identity of a tokenizer, shared by models (model.tokenizer) and datasets (the
// "tokenizer" attribute) so that training can refuse a dataset tokenised for another model.
//   "byte260"        the built-in byte-level tokenizer (model/tokenizer.h)
//   "sha256:<hex>"   a model folder's tokenizer file: tokenizer.model when the folder has one
//                    (SentencePiece), else tokenizer.json (byte-level BPE). Mixtral's folders
//                    carry both, and their tokenizer.json is a SentencePiece model rewritten
//                    (Metaspace, byte fallback), which the library reads as released.
#include <string>

namespace hf {

// The identity of the tokenizer in a Hugging Face model folder; a usage error naming the
// folder when it holds neither tokenizer.json nor tokenizer.model.
std::string tokenizer_id_of_dir(const std::string& dir);

// The file tokenizer_id_of_dir digests (dir/tokenizer.model or dir/tokenizer.json).
std::string tokenizer_file_of_dir(const std::string& dir);

}  // namespace hf
