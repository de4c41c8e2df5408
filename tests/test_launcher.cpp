// dap/launcher (`fold launch`): every rank gets torchrun's variables, the first failure
// stops the others and gives its exit code, and bad options are rejected.
#include "dap/launcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>

namespace fold::launcher {
namespace {

TEST(Launcher, EveryRankSucceedsGivesZero) {
  LaunchOptions o;
  o.nproc = 3;
  o.command = {"sh", "-c", "test \"$WORLD_SIZE\" = 3 && test \"$RANK\" = \"$LOCAL_RANK\" && test -n \"$MASTER_PORT\""};
  EXPECT_EQ(launch(o), 0);
}

TEST(Launcher, FirstFailureStopsTheOthersAndGivesItsCode) {
  LaunchOptions o;
  o.nproc = 3;
  o.grace_seconds = 2;
  // Rank 1 fails at once; the others would run for a minute unless stopped.
  o.command = {"sh", "-c", "if [ \"$RANK\" = 1 ]; then exit 7; fi; sleep 60"};
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(launch(o), 7);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
}

TEST(Launcher, RejectsBadOptions) {
  LaunchOptions o;
  o.nproc = 2;
  EXPECT_THROW(launch(o), std::invalid_argument);  // no command
  o.command = {"true"};
  o.nnodes = 2;
  EXPECT_THROW(launch(o), std::invalid_argument);  // several nodes without --master
  o.nnodes = 1;
  o.node_rank = 1;
  EXPECT_THROW(launch(o), std::invalid_argument);
}

}  // namespace
}  // namespace fold::launcher
