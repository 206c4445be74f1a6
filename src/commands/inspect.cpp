// hfedmoe inspect FILE.h5 [--verify]: what an HDF5 file is and what it holds.
// A checkpoint is first checked whole (its seal and manifest, io/checkpoint.h: a damaged file
// is one error line, never handed to libhdf5) and described from its metadata and dataset
// shapes; --verify then re-reads every dataset through libhdf5 and checks its crc32 against
// the manifest. A dataset file is described by the data layer (data/describe.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "commands/checkpoint_config.h"
#include "cli/checkpoint_path.h"
#include "cli/options.h"
#include "commands/commands.h"
#include "data/describe.h"
#include "io/checkpoint.h"
#include "io/crc32.h"
#include "io/h5.h"
#include "io/metrics.h"
#include "io/seal.h"
#include "mpi/runtime.h"
#include "util/check.h"
#include "util/human.h"

namespace hf {
namespace {

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); i++) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); i++) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

// "w1 [128, 64], w3 [128, 64], w2 [64, 128]" for the datasets directly in a group, in table order
// where the group is the model's, else by name.
std::string members(const h5::File& f, const std::string& group, const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n + " " + shape_text(f.shape(group + "/" + n));
  return out;
}

// The ParamTable order of a layer's tensors, so the listing reads like the model.
int table_rank(const std::string& name) {
  static const char* order[] = {"attn_norm", "wq", "wk", "wv", "wo", "ffn_norm", "router", "w1", "w3", "w2"};
  for (int i = 0; i < 10; i++)
    if (name == order[i]) return i;
  return 100;
}

std::vector<std::string> datasets_in(const h5::File& f, const std::string& group) {
  std::vector<std::string> out;
  for (const auto& n : f.list(group))
    if (!f.is_group(group + "/" + n)) out.push_back(n);
  std::stable_sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return table_rank(a) < table_rank(b); });
  return out;
}

// Experts of a layer in one line when they all have the same tensors and shapes (the normal
// case), one line per expert otherwise.
void print_layer(const h5::File& f, const std::string& layer) {
  std::printf("  %-10s %s\n", layer.substr(6).c_str(), members(f, layer, datasets_in(f, layer)).c_str());
  for (const char* dense : {"shared", "mlp"})  // the shared experts, or a dense layer's MLP: every token
    if (f.exists(layer + "/" + dense))
      std::printf("  %-10s %s: %s\n", "", dense,
                  members(f, layer + "/" + dense, datasets_in(f, layer + "/" + dense)).c_str());
  std::vector<std::string> experts;
  for (const auto& n : f.list(layer))
    if (f.is_group(layer + "/" + n) && n.rfind("expert_", 0) == 0) experts.push_back(n);
  std::sort(experts.begin(), experts.end(), [](const std::string& a, const std::string& b) {
    return std::stoi(a.substr(7)) < std::stoi(b.substr(7));
  });
  std::map<std::string, std::vector<std::string>> by_layout;  // member listing -> experts
  int64_t params = 0;
  for (const auto& e : experts) {
    std::string g = layer + "/" + e;
    std::vector<std::string> names = datasets_in(f, g);
    by_layout[members(f, g, names)].push_back(e.substr(7));
    for (const auto& n : names) params += numel(f.shape(g + "/" + n));
  }
  if (experts.empty()) return;
  if (by_layout.size() == 1) {
    std::printf("  %-10s experts 0..%zu, each: %s (%s parameters in all)\n", "", experts.size() - 1,
                by_layout.begin()->first.c_str(), with_commas(params).c_str());
    return;
  }
  for (const auto& e : experts) {
    std::string g = layer + "/" + e;
    std::printf("  %-10s %s: %s\n", "", e.c_str(), members(f, g, datasets_in(f, g)).c_str());
  }
}

void print_arrays(const h5::File& f, const std::string& group) {
  if (!f.exists(group)) {
    std::printf("%s: none\n", group.c_str());
    return;
  }
  std::vector<std::string> names = f.datasets(group);
  std::printf("%s: %zu arrays\n", group.c_str(), names.size());
  for (const auto& n : names)
    std::printf("  %-28s %s %s\n", n.substr(group.size() + 1).c_str(), f.dtype(n).c_str(), shape_text(f.shape(n)).c_str());
}

// Rows, the last row, and the best test accuracy with the row it was reached in.
void print_metrics(const h5::File& f) {
  if (!f.exists("metrics")) {
    std::printf("metrics: none\n");
    return;
  }
  int64_t rows = f.attr_int("metrics", "rows");
  std::string text = f.attr_string("metrics", "columns");
  std::vector<std::string> columns;
  for (size_t pos = 0; rows > 0 && pos <= text.size();) {
    size_t end = std::min(text.find('\n', pos), text.size());
    columns.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  std::printf("metrics: %lld rows, %zu columns\n", static_cast<long long>(rows), columns.size());
  if (rows == 0) return;
  MetricsRow last;
  std::vector<double> acc;
  for (const auto& c : columns) {
    std::string path = "metrics/" + c, t = f.dtype(path);
    if (t == "str") {
      last.push_back({c, f.read_strings(path).back()});
    } else if (t[0] == 'i') {
      last.push_back({c, f.read<int64_t>(path).back()});
    } else {
      std::vector<double> v = f.read<double>(path);
      last.push_back({c, v.back()});
      if (c == "test_acc") acc = v;
    }
  }
  std::printf("  last  %s\n", to_json(last).c_str());
  int64_t best = -1;
  for (size_t r = 0; r < acc.size(); r++)
    if (std::isfinite(acc[r]) && (best < 0 || acc[r] > acc[static_cast<size_t>(best)])) best = static_cast<int64_t>(r);
  if (best >= 0) {
    std::string key = columns[0], at = metric_text(last[0].second);
    std::string t = f.dtype("metrics/" + key);
    if (t[0] == 'i') at = std::to_string(f.read<int64_t>("metrics/" + key)[static_cast<size_t>(best)]);
    std::printf("  best  test_acc %.4f at %s %s (row %lld)\n", acc[static_cast<size_t>(best)], key.c_str(), at.c_str(),
                static_cast<long long>(best + 1));
  }
}

void describe_checkpoint(const CheckpointFile& c) {
  const h5::File& f = c.file;
  std::printf("checkpoint %s (%.1f MB)\n", f.path().c_str(), std::filesystem::file_size(f.path()) / 1e6);
  std::printf("  format     %s v%lld\n", f.attr_string("meta", "format").c_str(),
              static_cast<long long>(f.attr_int("meta", "format_version")));
  std::printf("  kind       %s, %s %lld\n", f.attr_string("meta", "kind").c_str(),
              f.attr_string("meta", "kind") == "pretrain" ? "step" : "round",
              static_cast<long long>(f.attr_int("meta", "round")));
  std::printf("  seed       %llu\n", static_cast<unsigned long long>(f.attr_int("meta", "seed")));
  std::printf("  method     %s\n", f.attr_string("meta", "method").c_str());
  std::printf("  build      %s\n", f.attr_string("meta", "build").c_str());
  std::string config = f.attr_string("meta", "config");
  try {
    ModelConfig c = model_config_from_ini(config);
    std::printf("  model      %s: V %d, C %d, L %d, heads %d/%d, E %d x F %d, top-%d, T %d%s%s\n", c.preset.c_str(),
                c.vocab_size, c.d_model, c.n_layers, c.n_heads, c.n_kv_heads, c.n_experts, c.d_ff, c.top_k, c.seq_len,
                c.tie_embeddings ? ", tied embeddings" : "", c.n_classes ? strf(", %d classes", c.n_classes).c_str() : "");
    std::printf("  family     %s%s%s%s%s%s\n", c.hf_family.c_str(), c.norm_topk_prob ? "" : ", top-k not renormalised",
                c.qkv_bias ? ", q/k/v biases" : "", c.qk_norm ? ", q/k norm" : "",
                c.n_shared_experts ? strf(", %d shared expert(s) of F %d%s", c.n_shared_experts,
                                          c.shared_ff() / c.n_shared_experts, c.shared_gate ? ", gated" : "")
                                         .c_str()
                                   : "",
                c.first_k_dense ? strf(", %d dense layer(s) of F %d", c.first_k_dense, c.dense_ff()).c_str() : "");
    if (c.lora.enabled()) {
      int64_t adapter_params = 0;
      const ParamTable lora_table(c);  // named: a range-for over a temporary's member would dangle
      for (const ParamInfo& p : lora_table.tensors())
        if (is_lora_a(p.kind) || is_lora_b(p.kind)) adapter_params += static_cast<int64_t>(p.numel());
      std::printf("  adapters   LoRA r %d, alpha %g, targets %s: %s parameters, %s as fp32\n", c.lora.rank,
                  static_cast<double>(c.lora.alpha), lora_targets_text(c.lora.targets).c_str(),
                  with_commas(adapter_params).c_str(), human_bytes(4.0 * static_cast<double>(adapter_params)).c_str());
    }
  } catch (const Error& e) {
    std::printf("  model      (not recoverable from the config: %s)\n", e.what());
  }
  if (f.has_attr("meta", "base_dtype")) {
    const std::string path = f.attr_string("meta", "base_path");
    std::printf("  base       %s, %s%s\n", f.attr_string("meta", "base_dtype").c_str(),
                path.empty() ? "from run.seed (no train.init)" : path.c_str(),
                path.empty() ? "" : (" (sha256 " + f.attr_string("meta", "base_sha256") + ")").c_str());
  }

  std::vector<std::string> tensors = f.datasets("model");
  // One number that tells two checkpoints' models apart: the crc32 of the tensors' names and
  // their crc32s in the manifest (each of which --verify checks against the data).
  int64_t params = 0;
  uint32_t checksum = 0;
  for (const auto& t : tensors) {
    params += numel(f.shape(t));
    uint32_t crc = c.manifest.datasets.at(t).crc32;
    checksum = crc32(t.c_str(), t.size() + 1, checksum);
    checksum = crc32(&crc, sizeof(crc), checksum);
  }
  std::printf("model: %zu tensors, %s parameters, checksum %08x\n", tensors.size(), with_commas(params).c_str(), checksum);
  std::vector<std::string> layers;
  for (const auto& n : f.list("model"))
    if (f.is_group("model/" + n) && n.rfind("layer_", 0) == 0) layers.push_back(n);
  std::sort(layers.begin(), layers.end(), [](const std::string& a, const std::string& b) {
    return std::stoi(a.substr(6)) < std::stoi(b.substr(6));
  });
  if (f.exists("model/tok_emb")) std::printf("  %-10s %s\n", "tok_emb", shape_text(f.shape("model/tok_emb")).c_str());
  for (const auto& l : layers) print_layer(f, "model/" + l);
  for (const auto& n : datasets_in(f, "model"))
    if (n != "tok_emb") std::printf("  %-10s %s\n", n.c_str(), shape_text(f.shape("model/" + n)).c_str());
  for (const auto& n : f.list("model"))
    if (f.is_group("model/" + n) && n.rfind("layer_", 0) != 0)
      std::printf("  %-10s %s\n", n.c_str(), members(f, "model/" + n, datasets_in(f, "model/" + n)).c_str());

  print_arrays(f, "server");
  print_arrays(f, "clients");
  print_metrics(f);
  std::printf("config:\n");
  size_t pos = 0;
  while (pos < config.size()) {
    size_t end = std::min(config.find('\n', pos), config.size());
    std::printf("  %s\n", config.substr(pos, end - pos).c_str());
    pos = end + 1;
  }
}

void describe_other(const h5::File& f) {
  std::vector<std::string> names = f.datasets("/");
  std::printf("HDF5 file %s: not an hfedmoe checkpoint or dataset; %zu datasets\n", f.path().c_str(), names.size());
  for (const auto& n : names) std::printf("  /%-30s %s %s\n", n.c_str(), f.dtype(n).c_str(), shape_text(f.shape(n)).c_str());
}

// Re-reads every dataset; with a manifest (a checkpoint), each must match its crc32 there.
// Prints one line per failure; a usage error if any failed.
void verify(const h5::File& f, const Manifest* manifest) {
  std::vector<std::string> names = f.datasets("/");
  int failed = 0;
  std::string first;
  for (const auto& n : names) {
    std::string problem;
    try {
      uint32_t got = dataset_crc32(f, n);
      uint32_t want = manifest ? manifest->datasets.at(n).crc32 : got;
      if (got != want) problem = strf("crc32 mismatch (manifest %08x, read %08x)", want, got);
    } catch (const Error& e) {
      problem = e.what();
    }
    if (problem.empty()) continue;
    std::printf("  FAIL /%s: %s\n", n.c_str(), problem.c_str());
    if (!failed++) first = "/" + n + ": " + problem;
  }
  if (failed)
    fail(strf("%s: %d of %zu datasets fail verification (first: %s)", f.path().c_str(), failed, names.size(), first.c_str()),
         "the file is damaged; use an earlier checkpoint or regenerate it");
  if (manifest)
    std::printf("verify: seal (size, whole-file crc32) OK; manifest: %zu datasets, %zu attributes match; %zu datasets "
                "re-read, every crc32 matches; all OK\n",
                manifest->datasets.size(), manifest->attrs.size(), names.size());
  else
    std::printf("verify: %zu datasets re-read, all OK (no checksums in this file)\n", names.size());
}

// The file may be given as the first bare argument; Options knows only --key value.
std::vector<std::string> file_as_option(int argc, char** argv) {
  std::vector<std::string> args = {argv[0]};
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a[0] != '-') args.push_back("--file");
    args.push_back(a);
    if ((a == "--file" || a == "--config") && i + 1 < argc) args.push_back(argv[++i]);
  }
  return args;
}

}  // namespace

int cmd_inspect(int argc, char** argv) {
  std::string file;
  bool verify_all = false;
  Options o("inspect", "describe an HDF5 checkpoint or dataset: hfedmoe inspect FILE.h5 [--verify]");
  o.add("file", &file, "the HDF5 file (may also be given as the first bare argument)")
      .flag("verify", &verify_all, "re-read every dataset and check it against the checkpoint's manifest; exit 2 naming any mismatch");
  std::vector<std::string> args = file_as_option(argc, argv);
  std::vector<char*> av;
  for (auto& a : args) av.push_back(a.data());
  bool run = false;
  collectively([&] {
    run = o.parse(static_cast<int>(av.size()), av.data(), is_server());
    if (run && file.empty()) fail("inspect needs a file", "run `hfedmoe inspect FILE.h5 [--verify]`");
    if (run) file = resolve_checkpoint("file", file);
  });
  if (!run || !is_server()) return kExitOk;
  // A checkpoint is opened only through its checks; a file without a seal is read as HDF5 to
  // say what it is (a checkpoint without one is refused by open_checkpoint, naming why).
  if (is_sealed(file)) {
    CheckpointFile c = open_checkpoint(file);
    describe_checkpoint(c);
    std::fflush(stdout);
    if (verify_all) verify(c.file, &c.manifest);
    return kExitOk;
  }
  auto f = h5::File::open_read(file);
  if (f.has_attr("meta", "format")) open_checkpoint(file);  // fails: says why it cannot be read
  if (f.has_attr("/", "format") && f.attr_string("/", "format") == "hfedmoe-dataset")
    std::printf("%s", describe_dataset(Dataset::load(file)).c_str());
  else
    describe_other(f);
  std::fflush(stdout);
  if (verify_all) verify(f, nullptr);
  return kExitOk;
}

}  // namespace hf
