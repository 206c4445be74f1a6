// Input handling of the CLI layer: where a checkpoint is accepted (file, `latest`, ckpt folder,
// run directory), which configuration differences refuse a resume, values config.ini cannot
// store, and text files that are folders or start with a byte-order mark.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli/checkpoint_path.h"
#include "cli/options.h"
#include "cli/run_dir.h"
#include "io/checkpoint.h"
#include "io/fs.h"
#include "test_util.h"

namespace hf {
namespace {

using test::error_of;
namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  std::string dir = ::testing::TempDir() + "cli_inputs_" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// A run directory <dir>/run with ckpt/train_3.h5 (any bytes: only the path is resolved) and
// ckpt/latest naming it.
std::string run_with_latest(const std::string& name) {
  std::string run = fresh_dir(name) + "/run";
  fs::create_directories(run + "/ckpt");
  std::ofstream(run + "/ckpt/train_3.h5") << "x";
  std::ofstream(run + "/ckpt/latest") << "train_3.h5\n";
  return run;
}

TEST(ResolveCheckpoint, RunDirectoryCkptFolderAndLatestNameTheCheckpoint) {
  std::string run = run_with_latest("resolve");
  std::string want = run + "/ckpt/train_3.h5";
  EXPECT_EQ(resolve_checkpoint("eval.checkpoint", run), want);
  EXPECT_EQ(resolve_checkpoint("eval.checkpoint", run + "/ckpt"), want);
  EXPECT_EQ(resolve_checkpoint("eval.checkpoint", run + "/ckpt/latest"), want);
  EXPECT_EQ(resolve_checkpoint("eval.checkpoint", want), want);
}

TEST(ResolveCheckpoint, OtherPathsPassThroughAndAnEmptyFolderIsOneError) {
  std::string dir = fresh_dir("resolve_empty");
  EXPECT_EQ(resolve_checkpoint("train.init", dir + "/missing.h5"), dir + "/missing.h5");  // the loader names it
  std::string e = error_of([&] { resolve_checkpoint("train.init", dir); });
  EXPECT_NE(e.find("train.init=" + dir + " is a folder with no checkpoint"), std::string::npos) << e;
  EXPECT_NE(e.find("; give a checkpoint file, a run directory"), std::string::npos) << e;
}

TEST(ConfigDifferences, NamesEveryDifferingKeyExceptThoseThatMayChange) {
  const char* old_ini = "out = runs/a\n[fl]\nrounds = 2\nmethod = fedavg\n[train]\nlr = 0.01\n[run]\njob_name = a\n";
  const char* new_ini = "out = runs/b\n[fl]\nrounds = 5\nmethod = hfedmoe\n[train]\nlr = 0.1\n[run]\njob_name = b\nlog_level = debug\n";
  EXPECT_EQ(config_differences(old_ini, new_ini, {"fl.rounds"}),
            "fl.method = fedavg (not hfedmoe), train.lr = 0.01 (not 0.1)");
  EXPECT_EQ(config_differences(old_ini, new_ini, {"fl.rounds", "fl.method", "train.lr"}), "");
  EXPECT_EQ(config_differences(old_ini, old_ini, {}), "");
}

TEST(ResumeCheckpoint, RefusesAnotherKindFewerRoundsAndAnotherConfiguration) {
  std::string dir = fresh_dir("resume_check");
  ParamTable table(model_preset("tiny"));
  Checkpoint ck;
  ck.round = 3;
  ck.config_ini = "[fl]\nrounds = 3\n[train]\nlr = 0.01\n";
  ck.model.resize(table.total());
  std::string path = save_checkpoint(ck, table, dir, 1);
  ResumeRules rules{"train", "fl.rounds", {"fl.rounds"}};
  const std::string fix = "pass --fresh";
  EXPECT_EQ(error_of([&] { check_resume_checkpoint(path, "[fl]\nrounds = 5\n[train]\nlr = 0.01\n", rules, fix); }),
            "(no error)");
  std::string e = error_of([&] { check_resume_checkpoint(path, "[fl]\nrounds = 2\n[train]\nlr = 0.01\n", rules, fix); });
  EXPECT_NE(e.find("has 3 fl.rounds done, more than fl.rounds=2; give --fl.rounds 3 or more"), std::string::npos) << e;
  e = error_of([&] { check_resume_checkpoint(path, "[fl]\nrounds = 5\n[train]\nlr = 0.1\n", rules, fix); });
  EXPECT_NE(e.find("was written with train.lr = 0.01 (not 0.1)"), std::string::npos) << e;
  EXPECT_NE(e.find("or pass --fresh"), std::string::npos) << e;
  e = error_of([&] { check_resume_checkpoint(path, "[pretrain]\nsteps = 5\n", {"pretrain", "pretrain.steps", {}}, fix); });
  EXPECT_NE(e.find("is a train checkpoint, not a pretrain one"), std::string::npos) << e;
}

// The value text resolved_ini() would write for `value` of a string option, or the error.
std::string ini_of(const std::string& value) {
  std::string out = value;
  Options o("test", "values config.ini must reload");
  o.add("run.note", &out, "a string option");
  return error_of([&] { o.resolved_ini(); });
}

TEST(Options, RefusesValuesConfigIniCannotStore) {
  EXPECT_EQ(ini_of("runs/plain-name_1.5"), "(no error)");
  EXPECT_NE(ini_of("runs/a#b").find("run.note holds a '#' or a line break"), std::string::npos);
  EXPECT_NE(ini_of("two\nlines").find("run.note holds a '#' or a line break"), std::string::npos);
  EXPECT_NE(ini_of(" padded").find("begins or ends with a space"), std::string::npos);
}

TEST(Options, ConfigFileMayStartWithAByteOrderMarkButNotBeAFolder) {
  std::string dir = fresh_dir("options_config");
  std::ofstream(dir + "/bom.ini") << "\xEF\xBB\xBF[fl]\nrounds = 7\n";
  int rounds = 1;
  Options o("test", "a config file with a BOM");
  o.add("fl.rounds", &rounds, "rounds");
  std::string config = dir + "/bom.ini";
  char arg0[] = "test", arg1[] = "--config";
  char* argv[] = {arg0, arg1, config.data()};
  EXPECT_TRUE(o.parse(3, argv, false));
  EXPECT_EQ(rounds, 7);

  Options folder("test", "a config folder");
  folder.add("fl.rounds", &rounds, "rounds");
  char* argv_dir[] = {arg0, arg1, dir.data()};
  std::string e = error_of([&] { folder.parse(3, argv_dir, false); });
  EXPECT_NE(e.find(dir + " is a folder, not a file"), std::string::npos) << e;
}

TEST(ReadFile, AFolderIsOneErrorAndReadTextFileDropsTheByteOrderMark) {
  std::string dir = fresh_dir("read_file");
  EXPECT_NE(error_of([&] { read_file(dir); }).find("is a folder, not a file"), std::string::npos);
  std::ofstream(dir + "/bom.csv") << "\xEF\xBB\xBFname,x\n";
  EXPECT_EQ(read_text_file(dir + "/bom.csv"), "name,x\n");
  EXPECT_EQ(read_file(dir + "/bom.csv").size(), 10u);  // read_file keeps every byte
}

}  // namespace
}  // namespace hf
