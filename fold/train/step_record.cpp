#include "fold/train/step_record.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace fold::train {

using json = nlohmann::json;

namespace {

json validation_json(const ValidationResult& v) {
  json j = {{"lddt_ca", v.lddt_ca}, {"gdt_ts", v.gdt_ts}, {"drmsd", v.drmsd}, {"chains", v.chains}};
  if (v.interface_lddt_ca) j["interface_lddt_ca"] = *v.interface_lddt_ca;
  return j;
}

template <typename T>
json optional_json(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

template <typename T>
std::optional<T> optional_from(const json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number()) return std::nullopt;
  return j[key].get<T>();
}

double or_none(const std::optional<int64_t>& v) { return v ? static_cast<double>(*v) : -1.0; }

}  // namespace

const std::vector<std::pair<const char*, double RankFigures::*>>& RankFigures::fields() {
  static const std::vector<std::pair<const char*, double RankFigures::*>> table = {
      {"peak_memory_bytes", &RankFigures::peak_memory_bytes},
      {"peak_step_memory_bytes", &RankFigures::peak_step_memory_bytes},
      {"peak_forward_bytes", &RankFigures::peak_forward_bytes},
      {"peak_backward_bytes", &RankFigures::peak_backward_bytes},
      {"peak_optimizer_bytes", &RankFigures::peak_optimizer_bytes},
      {"optimizer_state_bytes", &RankFigures::optimizer_state_bytes},
      {"communication_seconds", &RankFigures::communication_seconds},
      {"step_seconds", &RankFigures::step_seconds},
  };
  return table;
}

std::vector<double> RankFigures::values() const {
  std::vector<double> out;
  for (const auto& [name, member] : fields()) out.push_back(this->*member);
  return out;
}

RankFigures RankFigures::from_values(const std::vector<double>& values) {
  RankFigures r;
  for (size_t i = 0; i < fields().size() && i < values.size(); ++i) r.*(fields()[i].second) = values[i];
  return r;
}

RankFigures StepRecord::figures() const {
  RankFigures r;
  r.peak_memory_bytes = or_none(peak_memory_bytes);
  r.peak_step_memory_bytes = or_none(peak_step_memory_bytes);
  r.peak_forward_bytes = or_none(peak_forward_bytes);
  r.peak_backward_bytes = or_none(peak_backward_bytes);
  r.peak_optimizer_bytes = or_none(peak_optimizer_bytes);
  r.optimizer_state_bytes = static_cast<double>(optimizer_state_bytes);
  r.communication_seconds = communication_seconds;
  r.step_seconds = step_seconds;
  return r;
}

double StepRecord::largest_peak_bytes() const {
  double best = or_none(peak_memory_bytes);
  for (const RankFigures& r : ranks) best = std::max(best, r.peak_memory_bytes);
  return best;
}

double StepRecord::largest_step_peak_bytes() const {
  double best = or_none(peak_step_memory_bytes);
  for (const RankFigures& r : ranks) best = std::max(best, r.peak_step_memory_bytes);
  return best;
}

std::string StepRecord::to_json_line() const {
  json j = {{"step", step}, {"lr", lr}, {"samples", samples}, {"stepped", stepped}};
  j["loss"] = optional_json(loss);
  j["losses"] = json(losses);
  j["grad_norm"] = optional_json(grad_norm);
  j["loss_scale"] = loss_scale;
  j["residues"] = residues;
  j["step_seconds"] = step_seconds;
  j["data_wait_seconds"] = data_wait_seconds;
  j["communication_seconds"] = communication_seconds;
  j["peak_forward_bytes"] = optional_json(peak_forward_bytes);
  j["peak_backward_bytes"] = optional_json(peak_backward_bytes);
  j["peak_optimizer_bytes"] = optional_json(peak_optimizer_bytes);
  j["peak_memory_bytes"] = optional_json(peak_memory_bytes);
  j["peak_step_memory_bytes"] = optional_json(peak_step_memory_bytes);
  j["optimizer_state_bytes"] = optimizer_state_bytes;
  if (!ranks.empty()) {
    for (const auto& [name, member] : RankFigures::fields()) {
      json values = json::array();
      for (const RankFigures& r : ranks) values.push_back(r.*member);
      j[std::string(name) + "_per_rank"] = values;
    }
  }
  if (validation) j["validation"] = validation_json(*validation);
  return j.dump();
}

std::optional<StepRecord> StepRecord::parse(const std::string& line) {
  const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  // A step's line always has "loss" (null when no sample was usable); a validation line has not.
  if (!j.is_object() || !j.contains("loss")) return std::nullopt;
  try {
    StepRecord r;
    r.step = j.value("step", int64_t{0});
    r.lr = j.value("lr", 0.0);
    r.samples = j.value("samples", std::vector<std::string>{});
    // Fields a line lacks take their defaults; a line without "stepped" (written by hand, as
    // fold ablate's tests do) records a step that was taken.
    r.stepped = j.value("stepped", true);
    r.loss = optional_from<double>(j, "loss");
    r.losses = j.value("losses", std::map<std::string, double>{});
    r.grad_norm = optional_from<double>(j, "grad_norm");
    r.loss_scale = j.value("loss_scale", 1.0);
    r.residues = j.value("residues", int64_t{0});
    r.step_seconds = j.value("step_seconds", 0.0);
    r.data_wait_seconds = j.value("data_wait_seconds", 0.0);
    r.communication_seconds = j.value("communication_seconds", 0.0);
    r.peak_forward_bytes = optional_from<int64_t>(j, "peak_forward_bytes");
    r.peak_backward_bytes = optional_from<int64_t>(j, "peak_backward_bytes");
    r.peak_optimizer_bytes = optional_from<int64_t>(j, "peak_optimizer_bytes");
    r.peak_memory_bytes = optional_from<int64_t>(j, "peak_memory_bytes");
    r.peak_step_memory_bytes = optional_from<int64_t>(j, "peak_step_memory_bytes");
    r.optimizer_state_bytes = j.value("optimizer_state_bytes", int64_t{0});
    for (const auto& [name, member] : RankFigures::fields()) {
      const std::string key = std::string(name) + "_per_rank";
      if (!j.contains(key)) continue;
      const auto values = j[key].get<std::vector<double>>();
      if (r.ranks.size() < values.size()) r.ranks.resize(values.size());
      for (size_t k = 0; k < values.size(); ++k) r.ranks[k].*member = values[k];
    }
    if (j.contains("validation")) {
      const json& v = j["validation"];
      r.validation = ValidationResult{v.value("lddt_ca", 0.0), v.value("gdt_ts", 0.0), v.value("drmsd", 0.0),
                                      v.value("chains", int64_t{0}), optional_from<double>(v, "interface_lddt_ca")};
    }
    return r;
  } catch (const json::exception&) {
    return std::nullopt;  // a field of the wrong type
  }
}

std::string validation_line(int64_t step, const ValidationResult& validation) {
  return json{{"step", step}, {"validation", validation_json(validation)}}.dump();
}

}  // namespace fold::train
