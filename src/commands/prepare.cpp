// hfedmoe prepare: a real corpus -> one HDF5 dataset (data/dataset.h) with a train/test
// split and a per-client partition. Runs on rank 0 alone; under mpirun the other ranks
// wait and leave with the same exit code.
#include <cstdio>
#include <filesystem>

#include "cli/options.h"
#include "commands/commands.h"
#include "data/build.h"
#include "data/corpora.h"
#include "data/corpus_mix.h"
#include "data/describe.h"
#include "io/fs.h"
#include "mpi/runtime.h"
#include "util/check.h"
#include "util/log.h"

namespace hf {

namespace {

struct PrepareOptions {
  std::string corpus = "spam";
  std::string input;   // "" = the committed sample for the corpus
  std::string output;  // "" = data/<corpus>.h5
  int clients = 10;
  std::string partition = "iid";
  double alpha = 0.5;
  std::string partition_field;
  double test_fraction = 0.1;
  double holdout = 0.1;
  int seq_len = 256;
  std::string tokenizer;  // "" = byte260
  int64_t max_samples = 0;
  uint64_t seed = 1;
  bool force = false;
};

// The command as typed, for the dataset's provenance; arguments with spaces are quoted.
std::string command_line(int argc, char** argv, const Options& o) {
  std::string cmd = "hfedmoe";
  for (int i = 0; i < argc; i++) {
    std::string a = argv[i];
    cmd += a.find_first_of(" \t\"'") == std::string::npos ? " " + a : " '" + a + "'";
  }
  if (!o.config_path().empty()) cmd += " (with config " + o.config_path() + ")";
  return cmd;
}

void prepare(const PrepareOptions& p, const std::string& command) {
  std::string input = p.input.empty() ? default_corpus_input(p.corpus) : p.input;
  if (p.input.empty() && p.corpus != "mix" && !input.empty() && !path_exists(input))
    fail("the default input " + input + " (the committed sample) is not in the current folder",
         "run from the repository root, or give --prepare.input");
  std::string output = p.output.empty() ? "data/" + p.corpus + ".h5" : p.output;
  // An existing file is replaced only when asked to, and never when it is the input itself
  // (the same file by any name: equivalent() compares what the paths resolve to).
  std::error_code not_comparable;
  if (std::filesystem::is_directory(output))
    fail("prepare.output=" + output + " is a folder", "name the dataset file to write, e.g. " + output + "/" + p.corpus + ".h5");
  if (std::filesystem::equivalent(output, input, not_comparable))
    fail("prepare.output=" + output + " is the input file", "write the dataset to another file");
  if (path_exists(output) && !p.force)
    fail("prepare.output=" + output + " exists", "pass --prepare.force to replace it, or choose another --prepare.output");
  LOG_INFO("prepare: reading corpus=%s from %s", p.corpus.c_str(), input.c_str());
  Corpus corpus = p.corpus == "mix" ? read_mix(input, p.holdout, p.seed) : read_corpus(p.corpus, input);
  LOG_INFO("prepare: %zu documents; tokenising (seq_len %d), splitting, partitioning", corpus.docs.size(), p.seq_len);

  BuildSpec spec;
  spec.seq_len = p.seq_len;
  spec.test_fraction = p.test_fraction;
  spec.max_samples = p.max_samples;
  spec.partition_field = p.partition_field;
  spec.tokenizer_dir = p.tokenizer;
  spec.partition = {p.partition, p.clients, p.alpha, p.seed};
  Dataset d = build_dataset(corpus, spec);
  d.command = command;
  d.path = output;
  LOG_INFO("prepare: writing %s", output.c_str());
  d.save(output);
  std::printf("%s documents: %zu\n%s", corpus.kind.c_str(), corpus.docs.size(), describe_dataset(d).c_str());
  std::fflush(stdout);
}

}  // namespace

int cmd_prepare(int argc, char** argv) {
  PrepareOptions p;
  Options o("prepare", "turn a real corpus into an HDF5 dataset with a train/test split and a per-client partition");
  o.add("prepare.corpus", &p.corpus,
        "spam | spam3 (SpamAssassin), sotu | sotu_era (State of the Union), text_dir, jsonl, "
        "mix (unlabelled LM mix of SOTU, Moby Dick and mail, data/corpus_mix.h)")
      .add("prepare.input", &p.input,
           "corpus folder (data/cache/<name> after data/fetch.sh, or data/samples/<name>), text folder or .jsonl file; "
           "mix: PART=FOLDER,... (parts sotu, moby-dick, spam-assassin); empty: the committed sample(s)")
      .add("prepare.output", &p.output, "dataset file to write (an existing one only with prepare.force); empty: data/<corpus>.h5")
      .add("prepare.clients", &p.clients, "number of federated clients (natural: 0 = one per distinct value)")
      .add("prepare.partition", &p.partition, "iid | dirichlet (label skew) | natural (by a field) | quantity (size skew)")
      .add("prepare.alpha", &p.alpha, "Dirichlet concentration for dirichlet/quantity: small = skewed")
      .add("prepare.partition_field", &p.partition_field,
           "field for partition=natural (spam: group; sotu: president, party, era, decade; jsonl: any); empty: default")
      .add("prepare.test_fraction", &p.test_fraction, "share of documents (per class) held out as the test split")
      .add("prepare.holdout", &p.holdout,
           "mix: leave out the documents that spam, spam3 and sotu_era prepared with this test_fraction (and this "
           "seed) test on; 0 = keep all")
      .add("prepare.seq_len", &p.seq_len, "tokens per row (byte-level: one token per byte)")
      .add("prepare.tokenizer", &p.tokenizer,
           "Hugging Face model folder whose tokenizer.json the rows use; empty: the built-in byte260")
      .add("prepare.max_samples", &p.max_samples, "keep at most this many rows (a seeded random subset); 0 = all")
      .add("prepare.seed", &p.seed, "seed of the subset, the split and the partition")
      .flag("prepare.force", &p.force, "replace an existing prepare.output (never the input itself)");
  bool run = false;
  collectively([&] {
    run = o.parse(argc, argv, is_server());
    if (!run) return;
    check_choice("prepare.corpus", p.corpus, corpus_kinds());
    check_choice("prepare.partition", p.partition, {"iid", "dirichlet", "natural", "quantity"});
    check_range("prepare.holdout", p.holdout, 0.0, 0.99);
  });
  if (!run) return kExitOk;
  std::string command = command_line(argc, argv, o);
  collectively([&] {
    if (is_server()) prepare(p, command);
  });
  return kExitOk;
}

}  // namespace hf
