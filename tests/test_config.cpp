// Configuration: schema = configs/base.toml; presets overlay it; --set overrides keys.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "fold/config.h"
#include "fold/config_section.h"
#include "fold/train/training_options.h"
#include "test_paths.h"

namespace fold {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, BaseIsAlphaFold2Model1) {
  const Config c;
  EXPECT_EQ(c.get_int("model.evoformer_stack.no_blocks"), 48);
  EXPECT_EQ(c.get_int("model.evoformer_stack.c_m"), 256);
  EXPECT_EQ(c.get_int("model.evoformer_stack.c_z"), 128);
  EXPECT_EQ(c.get_int("model.extra_msa.extra_msa_stack.no_blocks"), 4);
  EXPECT_EQ(c.get_int("model.template.template_pair_stack.no_blocks"), 2);
  EXPECT_EQ(c.get_int("model.structure_module.no_blocks"), 8);
  EXPECT_EQ(c.get_int("data.predict.max_msa_clusters"), 512);
  EXPECT_EQ(c.get_int("data.predict.max_extra_msa"), 5120);
  EXPECT_TRUE(c.get_bool("model.template.enabled"));
  EXPECT_FALSE(c.get_bool("model.heads.tm.enabled"));
}

// The training data options follow the preset (initial training: 1024 extra rows, the
// clusters not reduced by templates) and single-key overrides.
TEST(Config, TrainingOptionsFollowPresetAndOverrides) {
  const features::TrainingOptions o = training_options(Config::load("initial_training"));
  EXPECT_EQ(o.crop_size, 256);
  EXPECT_EQ(o.sampling.max_msa_clusters, 128);
  EXPECT_EQ(o.sampling.max_extra_msa, 1024);
  EXPECT_FALSE(o.sampling.reduce_msa_clusters_by_max_templates);
  EXPECT_TRUE(o.block_delete_msa);
  EXPECT_EQ(o.num_blocks, 5);
  EXPECT_DOUBLE_EQ(o.msa_fraction_per_block, 0.3);
  EXPECT_DOUBLE_EQ(o.clamp_prob, 0.9);
  EXPECT_EQ(o.max_template_hits, 20);
  EXPECT_FLOAT_EQ(o.max_resolution, 9.0f);
  EXPECT_EQ(o.spatial_crop_prob, 0.0);
  const features::TrainingOptions changed = training_options(
      Config::load("initial_training", {"data.train.crop_size=128", "data.train.spatial_crop_prob=0.5"}));
  EXPECT_EQ(changed.crop_size, 128);
  EXPECT_EQ(changed.spatial_crop_prob, 0.5);
  EXPECT_EQ(training_options(Config::load("initial_training", {"data.train.crop=false"})).crop_size, 0);
}

TEST(Config, EveryPresetLoadsAndValidates) {
  const auto presets = Config::presets();
  EXPECT_GE(presets.size(), 14u);
  for (const std::string& p : presets) EXPECT_NO_THROW(Config::load(p)) << p;
}

TEST(Config, PtmPresetEnablesTmHead) {
  const Config c = Config::load("af2_model_1_ptm");
  EXPECT_TRUE(c.get_bool("model.heads.tm.enabled"));
  EXPECT_DOUBLE_EQ(c.get_float("loss.tm.weight"), 0.1);
}

TEST(Config, TinyPresetIsConsistentlyShrunk) {
  const Config c = Config::load("tiny");
  EXPECT_EQ(c.get_int("globals.c_m"), 32);
  EXPECT_EQ(c.get_int("model.evoformer_stack.c_m"), 32);
  EXPECT_EQ(c.get_int("model.evoformer_stack.no_blocks"), 2);
  EXPECT_EQ(c.get_int("model.structure_module.no_blocks"), 2);
}

// tiny_multimer differs from af2_model_1_multimer_v3 in sizes only: every loss term and
// weight, and every multimer switch of the model, are the preset's (a training run of the
// tiny model stands for the real one).
TEST(Config, TinyMultimerHasTheMultimerPresetsLossesAndSwitches) {
  const auto json_of = [](const std::string& preset) { return nlohmann::json::parse(Config::load(preset).to_json()); };
  const nlohmann::json tiny = json_of("tiny_multimer"), full = json_of("af2_model_1_multimer_v3");
  EXPECT_EQ(tiny["loss"], full["loss"]) << tiny["loss"].dump(1) << "\n" << full["loss"].dump(1);
  // .at() throws on a missing key, so a misspelt one cannot pass as null == null.
  for (const char* key : {"/globals/is_multimer", "/model/input_embedder/use_chain_relative",
                          "/model/input_embedder/max_relative_chain", "/model/input_embedder/tf_dim",
                          "/model/template/template_single_embedder/c_in",
                          "/model/template/template_pair_stack/tri_mul_first", "/model/evoformer_stack/opm_first",
                          "/model/extra_msa/extra_msa_stack/opm_first", "/model/evoformer_stack/fuse_projection_weights",
                          "/model/structure_module/trans_scale_factor", "/model/heads/tm/enabled",
                          "/model/heads/masked_msa/c_out", "/data/train/spatial_crop_prob", "/data/train/clamp_prob",
                          "/data/train/block_delete_msa"}) {
    const nlohmann::json::json_pointer at(key);
    EXPECT_EQ(tiny.at(at), full.at(at)) << key;
  }
}

TEST(Config, SetReadsValueAsTheSchemaType) {
  const Config c = Config::load("af2_model_1", {"model.evoformer_stack.no_blocks=3",
                                                "loss.fape.backbone.clamp_distance=12",
                                                "globals.chunk_size=4",
                                                "model.template.enabled=false"});
  EXPECT_EQ(c.get_int("model.evoformer_stack.no_blocks"), 3);
  EXPECT_DOUBLE_EQ(c.get_float("loss.fape.backbone.clamp_distance"), 12.0);  // int -> float
  EXPECT_EQ(c.get_string("globals.chunk_size"), "4");
  EXPECT_FALSE(c.get_bool("model.template.enabled"));
}

TEST(Config, RejectsUnknownKeyNamingIt) {
  const std::string e = error_of([] { Config::load("", {"model.evoformer_stack.no_blockz=3"}); });
  EXPECT_NE(e.find("model.evoformer_stack.no_blockz"), std::string::npos) << e;
  Config c;
  const std::string f = error_of([&] { c.merge("[model.evoformer_stack]\nc_mm = 3\n", "user.toml"); });
  EXPECT_NE(f.find("user.toml"), std::string::npos) << f;
  EXPECT_NE(f.find("'model.evoformer_stack.c_mm'"), std::string::npos) << f;
  EXPECT_NE(error_of([&] { c.merge("[nosuchsection]\nx = 1\n", "u.toml"); }).find("nosuchsection"),
            std::string::npos);
}

TEST(Config, RejectsIllTypedValueNamingKey) {
  const std::string a = error_of([] { Config::load("", {"model.evoformer_stack.no_blocks=abc"}); });
  EXPECT_NE(a.find("model.evoformer_stack.no_blocks"), std::string::npos) << a;
  EXPECT_NE(a.find("integer"), std::string::npos) << a;
  Config c;
  const std::string b = error_of([&] { c.merge("[model.evoformer_stack]\nno_blocks = \"3\"\n", "u.toml"); });
  EXPECT_NE(b.find("expects integer, got string"), std::string::npos) << b;
  EXPECT_FALSE(error_of([] { Config::load("", {"model.template.enabled=1"}); }).empty());
  EXPECT_FALSE(error_of([] { Config::load("", {"loss.fape.backbone.clamp_distance=1.5.3"}); }).empty());
  EXPECT_FALSE(error_of([] { Config::load("", {"model.evoformer_stack=3"}); }).empty());  // a section
  EXPECT_FALSE(error_of([] { Config::load("", {"no_equals_sign"}); }).empty());
}

TEST(Config, RejectsImpossibleValues) {
  for (const char* bad : {"globals.chunk_size=-4", "globals.chunk_size=big", "globals.precision=fp8",
                          "train.checkpoint=every:0", "train.checkpoint=sometimes", "dist.zero=3",
                          "dist.dap=0", "kernels.attention=fast", "model.evoformer_stack.c_m=0",
                          "model.evoformer_stack.no_blocks=-1"}) {
    const std::string e = error_of([&] { Config::load("", {bad}); });
    const std::string key = std::string(bad).substr(0, std::string(bad).find('='));
    EXPECT_NE(e.find(key), std::string::npos) << bad << " -> '" << e << "'";
  }
  EXPECT_NO_THROW(Config::load("", {"globals.chunk_size=auto", "train.checkpoint=every:2"}));
}

// An options struct's section is read key by key into members of the key's type, and a
// missing key or one of another type is an error naming the whole key.
TEST(ConfigSection, FillsEachMemberFromItsKeyAndNamesABadKey) {
  const Config c = Config::load("tiny", {"loss.tm.max_bin=25.5", "loss.tm.no_bins=16", "loss.tm.enabled=true"});
  double max_bin = 0;
  int64_t no_bins = 0;
  bool enabled = false;
  read_section(c, "loss.tm", {{"max_bin", &max_bin}, {"no_bins", &no_bins}, {"enabled", &enabled}});
  EXPECT_EQ(max_bin, 25.5);
  EXPECT_EQ(no_bins, 16);
  EXPECT_TRUE(enabled);
  EXPECT_NE(error_of([&] { read_section(c, "loss.tm", {{"no_such_key", &max_bin}}); }).find("loss.tm.no_such_key"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_section(c, "loss.tm", {{"enabled", &no_bins}}); }).find("loss.tm.enabled"),
            std::string::npos);
}

TEST(Config, FileExtendsPreset) {
  const auto path = test::temp_path("user.toml");
  std::ofstream(path) << "extends = \"tiny\"\n[model.evoformer_stack]\nno_blocks = 1\n";
  const Config c = Config::load(path.string());
  std::filesystem::remove(path);
  EXPECT_EQ(c.get_int("model.evoformer_stack.no_blocks"), 1);
  EXPECT_EQ(c.get_int("model.evoformer_stack.c_m"), 32);  // from tiny
}

TEST(Config, RejectsMissingPresetOrFile) {
  const std::string e = error_of([] { Config::load("no_such_preset"); });
  EXPECT_NE(e.find("no_such_preset"), std::string::npos);
  EXPECT_NE(e.find("tiny"), std::string::npos);  // lists what exists
}

TEST(Config, RejectsMalformedTomlWithLine) {
  Config c;
  const std::string e = error_of([&] { c.merge("[globals]\nc_m = = 3\n", "bad.toml"); });
  EXPECT_NE(e.find("bad.toml:2"), std::string::npos) << e;
}

TEST(Config, TomlOutputRoundTrips) {
  const Config a = Config::load("small", {"model.evoformer_stack.no_blocks=7"});
  Config b;
  b.merge(a.to_toml(), "dump");
  EXPECT_EQ(b.to_toml(), a.to_toml());
  EXPECT_EQ(b.get_int("model.evoformer_stack.no_blocks"), 7);
}

}  // namespace
}  // namespace fold
