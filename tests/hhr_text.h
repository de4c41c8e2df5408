// Writes .hhr text for tests: hits whose alignments the test chooses, in the layout
// HH-suite writes and data/hhr reads.
#pragma once

#include <string>
#include <vector>

namespace fold::test {

struct Hit {
  std::string name;
  double sum_probs;
  int query_start;  // 0-based
  std::string query, templ;  // aligned segments, '-' for gaps
  int templ_start;
};

inline std::string hhr_text(const std::string& query, const std::vector<Hit>& hits) {
  std::string s = "Query         q\nMatch_columns " + std::to_string(query.size()) + "\n\n";
  const auto line = [](const std::string& kind, const std::string& name, int start, const std::string& seq, int len) {
    std::string head = kind + " " + name;
    head.resize(17, ' ');
    int residues = 0;
    for (char c : seq) residues += c != '-';
    // len 0: the sequence ends with the segment.
    return head + std::to_string(start + 1) + " " + seq + " " + std::to_string(start + residues) + " (" +
           std::to_string(len > 0 ? len : start + residues) + ")\n";
  };
  for (size_t k = 0; k < hits.size(); ++k) {
    const Hit& h = hits[k];
    int cols = 0;
    for (size_t c = 0; c < h.query.size(); ++c) cols += h.query[c] != '-' && h.templ[c] != '-';
    s += "No " + std::to_string(k + 1) + "\n>" + h.name + " test hit\nProbab=99.00  E-value=1e-20  Score=100.00  " +
         "Aligned_cols=" + std::to_string(cols) + "  Identities=90%  Similarity=1.000  Sum_probs=" +
         std::to_string(h.sum_probs) + "  Template_Neff=1.000\n\n" +
         line("Q", "q", h.query_start, h.query, static_cast<int>(query.size())) +
         line("T", h.name, h.templ_start, h.templ, 0) + "\n";
  }
  return s + "Done!\n";
}

}  // namespace fold::test
