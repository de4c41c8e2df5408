#include "dap/process_group.h"

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#ifdef FOLD_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef FOLD_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace fold::dist {

struct Group::Impl {
  int rank = 0, size = 1, id = 0;
  std::string name = "single process";
  c10::intrusive_ptr<c10d::Backend> pg;  // null for one process
};

namespace {

std::mutex registry_mutex;
std::map<int, std::shared_ptr<Group::Impl>>& registry() {
  static std::map<int, std::shared_ptr<Group::Impl>> groups;
  return groups;
}

std::shared_ptr<Group::Impl> register_group(std::shared_ptr<Group::Impl> impl) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  impl->id = static_cast<int>(registry().size());
  registry()[impl->id] = impl;
  return impl;
}

std::shared_ptr<Group::Impl> single_process() {
  static const std::shared_ptr<Group::Impl> single = register_group(std::make_shared<Group::Impl>());
  return single;
}

// c10d reports a timeout or a dead peer as an exception from wait(); it gets the group's
// name, so a hang turned error says where it happened.
std::atomic<int64_t> waited_nanoseconds{0};

Pending issue(const Group::Impl& g, const char* what, c10::intrusive_ptr<c10d::Work> work) {
  const std::string where = std::string(what) + " on " + g.name;
  return Pending([work = std::move(work), where] {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      work->wait();
    } catch (const std::exception& e) {
      throw std::runtime_error(where + " failed: " + e.what());
    }
    waited_nanoseconds += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
  });
}

// True when a collective is a local copy: one process without a backend. A released
// group of several ranks has no backend either, and must not pretend to be alone.
bool local(const Group::Impl& g) {
  if (g.pg) return false;
  TORCH_CHECK(g.size == 1, "dap: ", g.name, " was released (release_process_groups) and has no backend");
  return true;
}

void check_split(const at::Tensor& whole, const at::Tensor& part, int size, const char* what) {
  TORCH_CHECK(whole.is_contiguous() && part.is_contiguous(), what, ": tensors must be contiguous");
  TORCH_CHECK(whole.numel() == part.numel() * size, what, ": the whole tensor has ", whole.numel(),
              " elements, not ", size, " x ", part.numel());
}

// with_backend: a group of one process gets a backend too (Group::connect); otherwise it
// copies locally and never touches the store.
std::shared_ptr<Group::Impl> make_group(const c10::intrusive_ptr<c10d::Store>& store, const std::string& name,
                                        int rank, int size, Backend backend, std::chrono::milliseconds timeout,
                                        bool with_backend = false) {
  auto impl = std::make_shared<Group::Impl>();
  impl->rank = rank;
  impl->size = size;
  impl->name = name;
  if (size == 1 && !with_backend) return register_group(impl);
  auto prefixed = c10::make_intrusive<c10d::PrefixStore>(name, store);
  if (backend == Backend::kGloo) {
#ifdef FOLD_WITH_GLOO
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, size, options);
#else
    throw std::invalid_argument("Gloo (CPU) process groups need a build with Gloo's headers (libgloo-dev)");
#endif
  } else {
#ifdef FOLD_WITH_NCCL
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = timeout;
    impl->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, rank, size, options);
#else
    throw std::invalid_argument("NCCL process groups need a build with CUDA (FOLD_CUDA)");
#endif
  }
  return register_group(impl);
}

}  // namespace

void release_process_groups() {
  std::lock_guard<std::mutex> lock(registry_mutex);
  for (auto& [id, impl] : registry()) {
    if (!impl->pg) continue;
    impl->pg->shutdown();
    impl->pg.reset();
  }
}

double communication_seconds() { return static_cast<double>(waited_nanoseconds.load()) * 1e-9; }

void Pending::wait() {
  if (wait_) {
    auto w = std::move(wait_);
    wait_ = nullptr;
    w();
  }
}

Group::Group() : impl_(single_process()) {}
Group::Group(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
int Group::rank() const { return impl_->rank; }
int Group::size() const { return impl_->size; }
int Group::id() const { return impl_->id; }

Group Group::from_id(int id) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  const auto it = registry().find(id);
  TORCH_CHECK(it != registry().end(), "dap: no process group with id ", id);
  return Group(it->second);
}

Pending Group::all_gather(const at::Tensor& out, const at::Tensor& in) const {
  check_split(out, in, size(), "all_gather");
  if (local(*impl_)) {
    out.copy_(in);
    return {};
  }
  at::Tensor o = out, i = in;
  return issue(*impl_, "all_gather", impl_->pg->_allgather_base(o, i));
}

Pending Group::reduce_scatter(const at::Tensor& out, const at::Tensor& in) const {
  check_split(in, out, size(), "reduce_scatter");
  if (local(*impl_)) {
    out.copy_(in);
    return {};
  }
  at::Tensor o = out, i = in;
  return issue(*impl_, "reduce_scatter", impl_->pg->_reduce_scatter_base(o, i));
}

Pending Group::all_to_all(const at::Tensor& out, const at::Tensor& in) const {
  check_split(out, in, 1, "all_to_all");
  TORCH_CHECK(in.size(0) % size() == 0, "all_to_all: dim 0 (", in.size(0), ") must divide by the group size ", size());
  if (local(*impl_)) {
    out.copy_(in);
    return {};
  }
  std::vector<int64_t> equal;  // empty: equal splits
  at::Tensor o = out, i = in;
  return issue(*impl_, "all_to_all", impl_->pg->alltoall_base(o, i, equal, equal));
}

Pending Group::all_reduce(const at::Tensor& t) const {
  if (local(*impl_)) return {};
  std::vector<at::Tensor> ts{t};
  return issue(*impl_, "all_reduce", impl_->pg->allreduce(ts));
}

Pending Group::barrier() const {
  if (local(*impl_)) return {};
  return issue(*impl_, "barrier", impl_->pg->barrier());
}

namespace {

c10::intrusive_ptr<c10d::Store> connect_store(const DistEnvironment& env, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(env.master_port);
  so.isServer = env.rank == 0;
  so.numWorkers = env.world_size;
  so.waitWorkers = false;
  so.timeout = timeout;
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(env.rank) + ": cannot reach the rendezvous store at " +
                             env.master_addr + ":" + std::to_string(env.master_port) + ": " + e.what());
  }
  return store;
}

}  // namespace

Group Group::connect(const DistEnvironment& env, Backend backend, std::chrono::milliseconds timeout) {
  return Group(make_group(connect_store(env, timeout), "connected", env.rank, env.world_size, backend, timeout,
                          /*with_backend=*/true));
}

ProcessGrid ProcessGrid::create(const DistEnvironment& env, int dap_size, Backend backend,
                                std::chrono::milliseconds timeout) {
  if (dap_size < 1 || env.world_size % dap_size != 0)
    throw std::invalid_argument("dist.dap=" + std::to_string(dap_size) + " does not divide the world of " +
                                std::to_string(env.world_size) + " processes");
  ProcessGrid grid;
  if (env.world_size == 1) return grid;
  const c10::intrusive_ptr<c10d::Store> store = connect_store(env, timeout);
  const int dp_size = env.world_size / dap_size;
  const int dp_rank = env.rank / dap_size, dap_rank = env.rank % dap_size;
  grid.world_ = Group(make_group(store, "world", env.rank, env.world_size, backend, timeout));
  grid.dap_ = Group(make_group(store, "dap" + std::to_string(dp_rank), dap_rank, dap_size, backend, timeout));
  grid.dp_ = Group(make_group(store, "dp" + std::to_string(dap_rank), dp_rank, dp_size, backend, timeout));
  return grid;
}

}  // namespace fold::dist
