// `fold msa`: FASTA -> MSAs with jackhmmer or MMseqs2 and hhblits, template hits with
// hhsearch, written in OpenFold's per-chain alignment layout (<out>/<id>/<db>_hits.sto|a3m,
// bfd_uniclust_hits.a3m, pdb70_hits.hhr). The work is in data/msa_search.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "data/msa_search.h"
#include "fold/cli/commands.h"
#include "fold/cli/stop_signals.h"

namespace fold::cli {

void add_msa_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "msa",
      "Build MSAs with jackhmmer or MMseqs2 and hhblits, and template hits with hhsearch: <out>/<id>/<db>_hits.sto|a3m, "
      "bfd_uniclust_hits.a3m, pdb70_hits.hhr (OpenFold's alignment layout)");
  struct Args {
    data::MsaSearchOptions options;
    std::string tool;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--fasta", a->options.fasta, "Query sequences; one search per record and database")
      ->required()
      ->check(CLI::ExistingFile);
  // Not CLI::ExistingFile: a missing database gets a message saying how to get one, and
  // an MMseqs2 database is named by a prefix that is not itself a file.
  auto* db = cmd->add_option("--db", a->options.databases,
                             "Protein database searched with --tool: FASTA, plain or .gz (repeatable); for mmseqs also "
                             "an existing MMseqs2 DB");
  auto* tool = cmd->add_option("--tool", a->tool, "jackhmmer (AF2's flags, .sto) or mmseqs (iterative search, .a3m)")
                   ->check(CLI::IsMember({"jackhmmer", "mmseqs"}));
  db->needs(tool);
  tool->needs(db);
  cmd->add_option("--hhblits-db", a->options.hhblits_databases,
                  "HH-suite database prefix (BFD, UniClust30; repeatable): one hhblits run with AF2's flags "
                  "searches them all -> bfd_uniclust_hits.a3m");
  cmd->add_option("--pdb70-db", a->options.template_databases,
                  "PDB70-style HH-suite database prefix: hhsearch with AF2's flags -> pdb70_hits.hhr, from the first "
                  "--db alignment (AF2: UniRef90's), else the hhblits one");
  cmd->add_option("--out", a->options.output_dir, "Alignment folder (one sub-folder per record)")->required();
  cmd->add_option("--jobs", a->options.jobs, "Searches run in parallel, sharing the cores (default 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--iterations", a->options.iterations,
                  "Search iterations: jackhmmer -N, mmseqs --num-iterations (default 3)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--jackhmmer-binary", a->options.jackhmmer_binary, "jackhmmer to run (default: from PATH)");
  cmd->add_option("--mmseqs-binary", a->options.mmseqs_binary, "mmseqs to run (default: from PATH)");
  cmd->add_option("--hhblits-binary", a->options.hhblits_binary, "hhblits to run (default: from PATH)");
  cmd->add_option("--hhsearch-binary", a->options.hhsearch_binary, "hhsearch to run (default: from PATH)");
  cmd->add_option("--tmp-dir", a->options.tmp_dir,
                  "Work files: decompressed databases for jackhmmer, MMseqs2 databases (default: $TMPDIR or /tmp)");
  CLI::App* top = &app;
  cmd->callback([a, top] {
    if (!a->tool.empty()) a->options.tool = data::parse_msa_tool(a->tool);
    // The top-level --threads bounds the cores the tools share, as it bounds LibTorch's.
    if (const CLI::Option* threads = top->get_option_no_throw("--threads"); threads && threads->count() > 0)
      a->options.cpus = threads->as<int>();
    size_t searched = 0, kept = 0, failed = 0;
    auto report = [&](const data::MsaSearchResult& r) {
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%.1f s", r.seconds);
      std::cout << r.id << ' ' << r.database << ": ";
      if (r.skipped) {
        ++kept;
        std::cout << "exists, kept";
      } else if (!r.error.empty()) {
        ++failed;
        std::cout << "FAILED after " << seconds;
      } else {
        ++searched;
        std::cout << "depth " << r.depth << " in " << seconds;
      }
      std::cout << " -> " << r.path << std::endl;
    };
    // Ctrl-C or SIGTERM stops the run cleanly instead of killing it, so the work folder
    // (which can hold a decompressed copy of a large database) is removed.
    const StopSignals stop("\nfold msa: stopping the searches and removing work files (again to kill at once)\n");
    a->options.cancel = stop.flag();
    try {
      data::run_msa_search(a->options, report);
    } catch (...) {
      if (searched + kept + failed > 0)
        std::cout << "fold msa: " << searched << " searched, " << kept << " kept, " << failed << " failed\n";
      throw;
    }
    std::cout << "fold msa: " << searched << " searched, " << kept << " kept, " << failed << " failed\n";
  });
}

}  // namespace fold::cli
