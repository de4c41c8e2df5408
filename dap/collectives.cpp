#include "dap/collectives.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

namespace fold::dap {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

int64_t wrap(int64_t dim, const at::Tensor& x) { return dim < 0 ? dim + x.dim() : dim; }

// The rank's slice of a whole tensor along dim.
at::Tensor local_slice(const at::Tensor& x, int64_t dim, const dist::Group& g) {
  TORCH_CHECK(x.size(dim) % g.size() == 0, "dap: extent ", x.size(dim), " of dim ", dim,
              " does not divide by the group size ", g.size(), " (pad it first)");
  const int64_t n = x.size(dim) / g.size();
  return x.narrow(dim, g.rank() * n, n);
}

// [size, *x.shape] received from every rank, concatenated along dim.
at::Tensor all_gather_raw(const at::Tensor& x, int64_t dim, const dist::Group& g) {
  if (g.size() == 1) return x.clone();
  const at::Tensor in = x.contiguous();
  std::vector<int64_t> shape{g.size()};
  shape.insert(shape.end(), in.sizes().begin(), in.sizes().end());
  at::Tensor out = at::empty(shape, in.options());
  g.all_gather(out, in.unsqueeze(0)).wait();
  return at::cat(out.unbind(0), dim);
}

// Sum over ranks of this rank's slice along dim.
at::Tensor reduce_scatter_raw(const at::Tensor& x, int64_t dim, const dist::Group& g) {
  if (g.size() == 1) return x.clone();
  TORCH_CHECK(x.size(dim) % g.size() == 0, "dap: extent ", x.size(dim), " does not divide by ", g.size());
  const at::Tensor in = at::stack(x.chunk(g.size(), dim), 0).contiguous();
  at::Tensor out = at::empty(in.sizes().slice(1), in.options());
  g.reduce_scatter(out.unsqueeze(0), in).wait();
  return out;
}

// Splits x along split_dim into `size` chunks stacked on dim 0, ready for all_to_all.
at::Tensor all_to_all_input(const at::Tensor& x, int64_t split_dim, const dist::Group& g) {
  TORCH_CHECK(x.size(split_dim) % g.size() == 0, "dap: all_to_all extent ", x.size(split_dim), " of dim ", split_dim,
              " does not divide by the group size ", g.size(), " (pad it first)");
  return at::stack(x.chunk(g.size(), split_dim), 0).contiguous();
}

at::Tensor all_to_all_output(const at::Tensor& received, int64_t concat_dim) {
  return at::cat(received.unbind(0), concat_dim);
}

at::Tensor all_to_all_raw(const at::Tensor& x, int64_t split_dim, int64_t concat_dim, const dist::Group& g) {
  if (g.size() == 1) return x.clone();
  const at::Tensor in = all_to_all_input(x, split_dim, g);
  at::Tensor out = at::empty_like(in);
  g.all_to_all(out, in).wait();
  return all_to_all_output(out, concat_dim);
}

void save(AutogradContext* ctx, const dist::Group& g, int64_t a, int64_t b = 0) {
  ctx->saved_data["group"] = static_cast<int64_t>(g.id());
  ctx->saved_data["a"] = a;
  ctx->saved_data["b"] = b;
}
dist::Group group_of(AutogradContext* ctx) { return dist::Group::from_id(static_cast<int>(ctx->saved_data["group"].toInt())); }

struct Scatter : torch::autograd::Function<Scatter> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t dim, int64_t group) {
    const dist::Group g = dist::Group::from_id(static_cast<int>(group));
    save(ctx, g, dim);
    return local_slice(x, dim, g).clone();
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    return {all_gather_raw(grad[0], ctx->saved_data["a"].toInt(), group_of(ctx)), {}, {}};
  }
};

struct Gather : torch::autograd::Function<Gather> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t dim, int64_t group) {
    const dist::Group g = dist::Group::from_id(static_cast<int>(group));
    save(ctx, g, dim);
    return all_gather_raw(x, dim, g);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    return {local_slice(grad[0], ctx->saved_data["a"].toInt(), group_of(ctx)).contiguous(), {}, {}};
  }
};

struct AllGather : torch::autograd::Function<AllGather> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t dim, int64_t group) {
    const dist::Group g = dist::Group::from_id(static_cast<int>(group));
    save(ctx, g, dim);
    return all_gather_raw(x, dim, g);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    return {reduce_scatter_raw(grad[0], ctx->saved_data["a"].toInt(), group_of(ctx)), {}, {}};
  }
};

// `received` is the output buffer of an all_to_all already issued for x (or undefined:
// do it now); forward waits on `pending`.
struct AllToAll : torch::autograd::Function<AllToAll> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t split_dim, int64_t concat_dim,
                            int64_t group) {
    const dist::Group g = dist::Group::from_id(static_cast<int>(group));
    save(ctx, g, split_dim, concat_dim);
    return all_to_all_raw(x, split_dim, concat_dim, g);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    return {all_to_all_raw(grad[0], ctx->saved_data["b"].toInt(), ctx->saved_data["a"].toInt(), group_of(ctx)), {}, {},
            {}};
  }
};

// The finishing half of PendingAllToAll: x only links the graph; the data came in `out`.
struct FinishAllToAll : torch::autograd::Function<FinishAllToAll> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& /*x*/, const at::Tensor& received,
                            int64_t split_dim, int64_t concat_dim, int64_t group) {
    save(ctx, dist::Group::from_id(static_cast<int>(group)), split_dim, concat_dim);
    return all_to_all_output(received, concat_dim);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    return {all_to_all_raw(grad[0], ctx->saved_data["b"].toInt(), ctx->saved_data["a"].toInt(), group_of(ctx)), {}, {},
            {}, {}};
  }
};

}  // namespace

at::Tensor scatter(const at::Tensor& x, int64_t dim, const dist::Group& group) {
  return Scatter::apply(x, wrap(dim, x), group.id());
}
at::Tensor gather(const at::Tensor& x, int64_t dim, const dist::Group& group) {
  return Gather::apply(x, wrap(dim, x), group.id());
}
at::Tensor all_gather(const at::Tensor& x, int64_t dim, const dist::Group& group) {
  return AllGather::apply(x, wrap(dim, x), group.id());
}
at::Tensor all_to_all(const at::Tensor& x, int64_t split_dim, int64_t concat_dim, const dist::Group& group) {
  return AllToAll::apply(x, wrap(split_dim, x), wrap(concat_dim, x), group.id());
}

PendingAllToAll::PendingAllToAll(const at::Tensor& x, int64_t split_dim, int64_t concat_dim, const dist::Group& group)
    : x_(x), split_dim_(wrap(split_dim, x)), concat_dim_(wrap(concat_dim, x)), group_(group) {
  const at::Tensor in = all_to_all_input(x.detach(), split_dim_, group_);
  received_ = at::empty_like(in);
  pending_ = group_.all_to_all(received_, in);
}

at::Tensor PendingAllToAll::wait() {
  pending_.wait();
  return FinishAllToAll::apply(x_, received_, split_dim_, concat_dim_, group_.id());
}

int64_t padded_extent(int64_t n, int64_t parts) { return (n + parts - 1) / parts * parts; }

at::Tensor pad_to(const at::Tensor& x, int64_t dim, int64_t extent) {
  dim = wrap(dim, x);
  TORCH_CHECK(extent >= x.size(dim), "pad_to: extent ", extent, " is below the size ", x.size(dim));
  if (extent == x.size(dim)) return x;
  std::vector<int64_t> shape = x.sizes().vec();
  shape[dim] = extent - x.size(dim);
  return at::cat({x, at::zeros(shape, x.options())}, dim);
}

void all_reduce_gradients(const std::vector<at::Tensor>& params, const dist::Group& group) {
  if (group.size() == 1) return;
  std::vector<at::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return;
  std::vector<at::Tensor> flat_parts;
  for (const auto& g : grads) flat_parts.push_back(g.reshape(-1));
  at::Tensor flat = at::cat(flat_parts);
  group.all_reduce(flat).wait();
  int64_t offset = 0;
  for (auto& g : grads) {
    g.copy_(flat.narrow(0, offset, g.numel()).view_as(g));
    offset += g.numel();
  }
}

}  // namespace fold::dap
