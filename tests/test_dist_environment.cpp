// dap/dist_environment and the process groups' lifetime: the launcher variables are read
// (and bad ones rejected with the variable named), and released groups behave as documented.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>

#include "dap/dist_environment.h"
#include "dap/process_group.h"

namespace fold::dist {
namespace {

std::function<const char*(const char*)> env_of(const std::map<std::string, std::string>& vars) {
  return [vars](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

TEST(DistEnvironment, OneProcessWithoutLauncherVariables) {
  const DistEnvironment e = read_dist_environment(env_of({}));
  EXPECT_EQ(e.world_size, 1);
  EXPECT_EQ(e.rank, 0);
  EXPECT_EQ(e.source, "none");
}

TEST(DistEnvironment, ReadsTorchrunSlurmAndOpenMpi) {
  const DistEnvironment t = read_dist_environment(env_of(
      {{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "2345"}}));
  EXPECT_EQ(t.source, "torchrun");
  EXPECT_EQ(t.rank, 3);
  EXPECT_EQ(t.world_size, 4);
  EXPECT_EQ(t.local_rank, 1);
  EXPECT_EQ(t.master_addr, "node7");
  EXPECT_EQ(t.master_port, 2345);
  const DistEnvironment s = read_dist_environment(
      env_of({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"}, {"MASTER_ADDR", "n0"}}));
  EXPECT_EQ(s.source, "slurm");
  EXPECT_EQ(s.rank, 5);
  EXPECT_EQ(s.local_rank, 1);
  EXPECT_EQ(s.master_addr, "n0");
  // srun's launch node is the rendezvous when MASTER_ADDR is not given.
  const DistEnvironment srun = read_dist_environment(env_of(
      {{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}, {"SLURM_LAUNCH_NODE_IPADDR", "10.0.0.7"}}));
  EXPECT_EQ(srun.master_addr, "10.0.0.7");
  const DistEnvironment o = read_dist_environment(env_of(
      {{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "2"}, {"MASTER_ADDR", "n0"}}));
  EXPECT_EQ(o.source, "openmpi");
  EXPECT_EQ(o.world_size, 2);
}

TEST(DistEnvironment, RejectsBadInputNamingTheVariable) {
  const auto message = [](const std::map<std::string, std::string>& vars) {
    try {
      read_dist_environment(env_of(vars));
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}}).find("outside"), std::string::npos);
  EXPECT_NE(message({{"RANK", "x"}, {"WORLD_SIZE", "2"}}).find("RANK='x'"), std::string::npos);
  EXPECT_NE(message({{"RANK", "0"}}).find("WORLD_SIZE is missing"), std::string::npos);
  EXPECT_NE(message({{"RANK", "0"}, {"WORLD_SIZE", "2"}}).find("MASTER_ADDR"), std::string::npos);
  EXPECT_NE(message({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}}).find("SLURM_LAUNCH_NODE_IPADDR"), std::string::npos);
  // The launch node is only SLURM's: a torchrun world does not take it.
  EXPECT_NE(message({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"SLURM_LAUNCH_NODE_IPADDR", "10.0.0.7"}}).find("MASTER_ADDR"),
            std::string::npos);
  EXPECT_NE(message({{"MASTER_PORT", "70000"}}).find("MASTER_PORT"), std::string::npos);
}

// A group with a real backend (Gloo here; NCCL on a GPU) keeps working until
// release_process_groups, after which a one-process group copies locally: the release
// fold's main does before exit must leave nothing that a late collective could crash on.
TEST(ProcessGroups, ConnectedGroupWorksAndAReleasedGroupOfOneCopiesLocally) {
  DistEnvironment env;
  env.master_port = 29741;
  Group g;
  try {
    g = Group::connect(env, Backend::kGloo, std::chrono::seconds(30));
  } catch (const std::invalid_argument& e) {
    GTEST_SKIP() << "no Gloo in this build: " << e.what();
  }
  ASSERT_EQ(g.size(), 1);
  const at::Tensor in = at::arange(12, at::kFloat);
  at::Tensor out = at::zeros_like(in);
  g.all_gather(out, in).wait();
  EXPECT_TRUE(at::equal(out, in)) << "through the backend";
  release_process_groups();
  out.zero_();
  g.all_gather(out, in).wait();
  EXPECT_TRUE(at::equal(out, in)) << "after the release: a local copy";
  at::Tensor t = in.clone();
  g.all_reduce(t).wait();
  EXPECT_TRUE(at::equal(t, in));
}

}  // namespace
}  // namespace fold::dist
