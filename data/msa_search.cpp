#include "data/msa_search.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "data/fasta.h"
#include "data/hhr.h"
#include "data/msa.h"
#include "data/parse_error.h"
#include "data/subprocess.h"
#include "data/text_file.h"

namespace fold::data {
namespace fs = std::filesystem;

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// What a missing program is, and how to get it.
struct Program {
  std::string name;  // as messages name it
  std::string binary;
  std::string option;   // the option that gives its path
  std::string package;  // Debian's package, which tools/setup.sh installs
  std::string suite;    // "HMMER", "MMseqs2", "HH-suite"
};

Program sequence_search_program(const MsaSearchOptions& o) {
  return o.tool == MsaTool::kJackhmmer
             ? Program{"jackhmmer", o.jackhmmer_binary, "--jackhmmer-binary", "hmmer", "HMMER"}
             : Program{"mmseqs", o.mmseqs_binary, "--mmseqs-binary", "mmseqs2", "MMseqs2"};
}

std::string how_to_install(const Program& p) {
  return p.name + " is part of " + p.suite + ": tools/setup.sh installs it (Debian package '" + p.package +
         "'), or pass its path with " + p.option;
}

// The program's full path, so a missing tool is reported before any work starts rather
// than as a spawn failure in the middle of a run.
std::string find_tool(const Program& p) {
  if (p.binary.empty()) throw MsaSearchError(p.name + " binary: empty name. " + how_to_install(p));
  const std::string path = find_program(p.binary);
  if (!path.empty()) return path;
  if (p.binary.find('/') != std::string::npos)
    throw MsaSearchError(p.name + " not found: '" + p.binary + "' is not an executable file. " + how_to_install(p));
  throw MsaSearchError(p.name + " not found: no '" + p.binary + "' on PATH. " + how_to_install(p));
}

bool is_mmseqs_db(const std::string& path) { return fs::exists(path + ".dbtype"); }

std::string missing_database_message(const std::string& path) {
  return "database not found: " + path +
         " (a protein FASTA file, plain or .gz; tools/setup.sh fetches a small real one, "
         "examples/.cache/mmseqs2-examples/usr/share/doc/mmseqs2/example-data/DB.fasta.gz)";
}

bool cancelled(const std::atomic<bool>* cancel) { return cancel != nullptr && cancel->load(); }

// run_program with the failure as MsaSearchError, which `fold msa` reports.
void run_tool(const std::vector<std::string>& argv, const std::string& log, const std::string& what,
              const std::atomic<bool>* cancel) {
  try {
    run_program(argv, log, what, cancel);
  } catch (const SubprocessError& e) {
    throw MsaSearchError(e.what());
  }
}


// jackhmmer cannot search a gzipped database (it needs to rewind the file between
// iterations), so a .gz database is decompressed once per run into the work folder.
void gunzip_to(const std::string& src, const std::string& dst, const std::atomic<bool>* cancel) {
  gzFile in = gzopen(src.c_str(), "rb");
  if (in == nullptr) throw MsaSearchError("cannot open database " + src + ": " + std::strerror(errno));
  std::FILE* out = std::fopen(dst.c_str(), "wb");
  if (out == nullptr) {
    gzclose(in);
    throw MsaSearchError("cannot write " + dst + ": " + std::strerror(errno) + " (choose another --tmp-dir)");
  }
  std::vector<char> buffer(1 << 20);
  std::string error;
  for (;;) {
    const int n = gzread(in, buffer.data(), static_cast<unsigned>(buffer.size()));
    int code = Z_OK;
    const char* message = gzerror(in, &code);
    if (n < 0 || (code != Z_OK && code != Z_STREAM_END)) {
      error = "cannot decompress database " + src + ": " + (message != nullptr ? message : "read error");
      break;
    }
    if (n == 0) break;
    if (cancelled(cancel)) {
      error = "decompressing " + src + ": interrupted";
      break;
    }
    if (std::fwrite(buffer.data(), 1, static_cast<size_t>(n), out) != static_cast<size_t>(n)) {
      error = "cannot write " + dst + ": " + std::strerror(errno) + " (disk full? choose another --tmp-dir)";
      break;
    }
  }
  gzclose(in);
  if (std::fclose(out) != 0 && error.empty()) error = "cannot write " + dst + ": " + std::strerror(errno);
  if (!error.empty()) throw MsaSearchError(error);
}

// result2msa writes an MMseqs2 database, whose data file ends each entry with a NUL
// byte; the alignment is that entry's text (one query per search here).
void copy_without_nul(const std::string& src, const std::string& dst) {
  std::ifstream in(src, std::ios::binary);
  if (!in) throw MsaSearchError("mmseqs result2msa wrote no " + src);
  std::ofstream out(dst, std::ios::binary | std::ios::trunc);
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto n = static_cast<size_t>(in.gcount());
    const auto end = std::remove(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n), '\0');
    out.write(buffer.data(), end - buffer.begin());
  }
  if (!out.flush()) throw MsaSearchError("cannot write " + dst + ": " + std::strerror(errno));
}

struct Query {
  SequenceRecord record;
  std::string folder;    // safe_file_name(record.id)
  std::string sequence;  // upper case, what the tools are given
};

struct Database {
  std::string path;
  std::string name;
  std::string search_path;  // what the tool reads: the FASTA, its decompressed copy, or an MMseqs2 DB
};

std::vector<Query> read_queries(const std::string& fasta) {
  // read_fasta rejects an empty or record-less file with a ParseError naming it.
  const auto records = read_fasta(fasta);
  if (records.empty()) throw ParseError(fasta, 0, "no FASTA records");
  std::vector<Query> queries;
  std::map<std::string, std::string> folder_owner;
  for (const auto& r : records) {
    Query q{r, safe_file_name(r.id), {}};
    for (char c : r.sequence) {
      if (c == '-' || c == '.') {
        throw ParseError(fasta, 0,
                         "record '" + r.id + "' holds gap characters ('-' or '.'): a search query must be an "
                         "ungapped sequence");
      }
      q.sequence += is_lower(c) ? static_cast<char>(c - 'a' + 'A') : c;
    }
    const auto [it, inserted] = folder_owner.emplace(q.folder, r.id);
    if (!inserted) {
      throw ParseError(fasta, 0,
                       "records '" + it->second + "' and '" + r.id + "' would share the alignment folder '" +
                           q.folder + "' (ids must be unique after unsafe characters become '_')");
    }
    queries.push_back(std::move(q));
  }
  return queries;
}

bool is_hhsuite_db(const std::string& prefix) {
  auto has = [&prefix](const char* part) {
    return fs::is_regular_file(prefix + part + ".ffindex") && fs::is_regular_file(prefix + part + ".ffdata");
  };
  return has("_cs219") && (has("_a3m") || has("_hhm"));
}

void check_hhsuite_databases(const std::vector<std::string>& prefixes, const std::string& what) {
  for (const auto& p : prefixes)
    if (!is_hhsuite_db(p))
      throw MsaSearchError(what + " database not found: " + p + " (an HH-suite database prefix: " + p +
                           "_cs219.ffindex/.ffdata and " + p + "_a3m or " + p +
                           "_hhm; tools/examples/make-hhsuite-dbs.sh builds small ones from the example data)");
}

std::vector<Database> check_databases(const MsaSearchOptions& o) {
  if (o.databases.empty() && o.hhblits_databases.empty() && o.template_databases.empty())
    throw MsaSearchError("no database given (--db DB.fasta, --hhblits-db PREFIX or --pdb70-db PREFIX, repeatable)");
  check_hhsuite_databases(o.hhblits_databases, "hhblits");
  check_hhsuite_databases(o.template_databases, "hhsearch (PDB70)");
  std::vector<Database> dbs;
  std::map<std::string, std::string> name_owner;
  for (const auto& path : o.databases) {
    const bool mmseqs_db = o.tool == MsaTool::kMmseqs && is_mmseqs_db(path);
    if (!mmseqs_db) {
      if (!fs::exists(path)) throw MsaSearchError(missing_database_message(path));
      if (fs::is_directory(path)) throw MsaSearchError("database " + path + " is a folder, not a FASTA file");
      if (o.tool == MsaTool::kJackhmmer && is_mmseqs_db(path)) {
        throw MsaSearchError("database " + path + " is an MMseqs2 database; jackhmmer needs the FASTA file");
      }
    }
    Database db{path, database_name(path), path};
    const auto [it, inserted] = name_owner.emplace(db.name, path);
    if (!inserted) {
      throw MsaSearchError("databases " + it->second + " and " + path + " would both write '" + db.name +
                           "_hits' files: rename one");
    }
    dbs.push_back(std::move(db));
  }
  return dbs;
}

// Accepts the tool's first row as the query when it has the query's residues; the
// tools may write an unusual residue letter as X.
bool is_query_row(const std::string& row, const std::string& query) {
  if (row.size() != query.size()) return false;
  for (size_t i = 0; i < row.size(); ++i) {
    if (row[i] != query[i] && row[i] != 'X') return false;
  }
  return true;
}

enum class SearchKind { kSequence, kHhblits, kHhsearch };

// hhblits and hhsearch write under AF2's fixed names, whatever their databases are called.
constexpr const char* kHhblitsName = "bfd_uniclust";
constexpr const char* kHhsearchName = "pdb70";

struct Task {
  const Query* query;
  SearchKind kind;
  const Database* db;  // kSequence only
  std::string final_path;
  // kHhsearch: the alignments its input is taken from, the first that exists when it runs.
  std::vector<std::string> inputs;
};

struct ToolPaths {
  std::string sequence, hhblits, hhsearch;
};

std::string hits_suffix(MsaTool tool) { return tool == MsaTool::kJackhmmer ? "_hits.sto" : "_hits.a3m"; }

std::string joined(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

// AF2's template search input (alphafold/data/pipeline.py): the alignment's first 10,000
// rows (uniref_max_hits) without repeated rows, as A3M. The query alone when no
// alignment exists.
void write_template_search_input(const Task& t, const std::string& query_fasta, const std::string& out_a3m) {
  constexpr size_t kMaxRows = 10000;
  const auto found = std::find_if(t.inputs.begin(), t.inputs.end(), [](const auto& p) { return fs::exists(p); });
  if (found == t.inputs.end()) {
    fs::copy_file(query_fasta, out_a3m, fs::copy_options::overwrite_existing);
    return;
  }
  const Msa msa = read_msa(*found);
  std::ofstream out(out_a3m, std::ios::trunc);
  std::set<std::string> seen;
  for (size_t i = 0; i < std::min(msa.depth(), kMaxRows); ++i)
    if (seen.insert(msa.sequences[i]).second) out << '>' << msa.descriptions[i] << '\n' << msa.sequences[i] << '\n';
  if (!out.flush()) throw MsaSearchError("cannot write " + out_a3m);
}

// Runs the task's tool into `tmp` and returns the depth of what it wrote (rows, or
// hhsearch's hits), checked with the project's own parsers so that every file under a
// final name is one the pipeline reads, query first.
size_t run_search_tool(const Task& t, const MsaSearchOptions& o, const ToolPaths& tools, const std::string& dir,
                       int cpus, const std::string& tmp) {
  const std::string query_fasta = dir + "/query.fasta";
  {
    std::ofstream out(query_fasta);
    out << '>' << t.query->record.id << '\n' << t.query->sequence << '\n';
    if (!out.flush()) throw MsaSearchError("cannot write " + query_fasta);
  }
  const std::string log = dir + "/tool.log";
  std::string tool, against;
  switch (t.kind) {
    case SearchKind::kSequence: tool = msa_tool_name(o.tool), against = t.db->path; break;
    case SearchKind::kHhblits: tool = "hhblits", against = joined(o.hhblits_databases); break;
    case SearchKind::kHhsearch: tool = "hhsearch", against = joined(o.template_databases); break;
  }
  const std::string what_suffix = " ('" + t.query->record.id + "' against " + against + ")";
  if (t.kind == SearchKind::kHhsearch) {
    const std::string input = dir + "/template_search_input.a3m";
    write_template_search_input(t, query_fasta, input);
    run_tool(hhsearch_command(tools.hhsearch, input, o.template_databases, tmp), log, tool + what_suffix, o.cancel);
  } else if (t.kind == SearchKind::kHhblits) {
    run_tool(hhblits_command(tools.hhblits, query_fasta, o.hhblits_databases, tmp, cpus), log, tool + what_suffix,
             o.cancel);
  } else if (o.tool == MsaTool::kJackhmmer) {
    run_tool(jackhmmer_command(tools.sequence, query_fasta, t.db->search_path, tmp, o.iterations, cpus), log,
             tool + what_suffix, o.cancel);
  } else {
    const std::string threads = std::to_string(cpus);
    const std::string& mmseqs = tools.sequence;
    run_tool({mmseqs, "createdb", query_fasta, dir + "/qdb"}, log, "mmseqs createdb" + what_suffix, o.cancel);
    run_tool({mmseqs, "search", dir + "/qdb", t.db->search_path, dir + "/res", dir + "/tmp", "--num-iterations",
              std::to_string(o.iterations), "--threads", threads},
             log, "mmseqs search" + what_suffix, o.cancel);
    run_tool({mmseqs, "result2msa", dir + "/qdb", t.db->search_path, dir + "/res", dir + "/msa",
              "--msa-format-mode", "6", "--filter-msa", "0", "--threads", threads},
             log, "mmseqs result2msa" + what_suffix, o.cancel);
    copy_without_nul(dir + "/msa", tmp);
  }
  if (!fs::exists(tmp)) throw MsaSearchError(tool + " wrote nothing" + what_suffix);
  try {
    const std::string text = read_text_file(tmp);
    if (t.kind == SearchKind::kHhsearch) return parse_hhr(text, tmp).size();
    const bool sto = t.kind == SearchKind::kSequence && o.tool == MsaTool::kJackhmmer;
    const Msa msa = sto ? parse_stockholm(text, tmp) : parse_a3m(text, tmp);
    if (!is_query_row(msa.sequences.front(), t.query->sequence)) {
      throw MsaSearchError(tool + " output" + what_suffix + ": the first row is not the query (got " +
                           msa.sequences.front() + ")");
    }
    return msa.depth();
  } catch (const ParseError& e) {
    throw MsaSearchError(tool + " output is not readable" + what_suffix + ": " + e.what());
  }
}

void search_one(const Task& t, const MsaSearchOptions& o, const ToolPaths& tools, const std::string& work, int cpus,
                size_t index, MsaSearchResult& result) {
  const fs::path final_path(t.final_path);
  std::error_code ec;
  fs::create_directories(final_path.parent_path(), ec);
  if (ec) throw MsaSearchError("cannot create " + final_path.parent_path().string() + ": " + ec.message());
  // Beside the final file (same file system, so the rename is atomic) under a name no
  // alignment loader picks up (it does not end in .sto, .a3m or .hhr).
  const std::string tmp = (final_path.parent_path() / ("." + final_path.filename().string() + ".tmp-" +
                                                      std::to_string(::getpid()) + "-" + std::to_string(index)))
                              .string();
  const std::string dir = work + "/search-" + std::to_string(index);
  fs::create_directories(dir, ec);
  if (ec) throw MsaSearchError("cannot create " + dir + ": " + ec.message());
  struct Cleanup {
    std::string dir, tmp;
    ~Cleanup() {
      remove_tree(dir);
      ::unlink(tmp.c_str());  // no-op after the rename
    }
  } cleanup{dir, tmp};
  const size_t depth = run_search_tool(t, o, tools, dir, cpus, tmp);
  fs::rename(tmp, final_path, ec);
  if (ec) throw MsaSearchError("cannot rename " + tmp + " to " + final_path.string() + ": " + ec.message());
  result.depth = depth;
}

}  // namespace

const char* msa_tool_name(MsaTool tool) { return tool == MsaTool::kJackhmmer ? "jackhmmer" : "mmseqs"; }

MsaTool parse_msa_tool(const std::string& name) {
  if (name == "jackhmmer") return MsaTool::kJackhmmer;
  if (name == "mmseqs" || name == "mmseqs2") return MsaTool::kMmseqs;
  throw MsaSearchError("unknown MSA tool '" + name + "' (jackhmmer or mmseqs)");
}

std::string safe_file_name(std::string_view id) {
  std::string s;
  for (char c : id) s += (is_letter(c) || is_digit(c) || c == '.' || c == '_' || c == '-') ? c : '_';
  if (s.empty() || s == "." || s == "..") s = "_" + s;
  return s;
}

std::string database_name(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  auto strip = [&name](std::string_view suffix) {
    std::string lower = name;
    for (char& c : lower) c = is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c;
    if (lower.size() > suffix.size() && ends_with(lower, suffix)) {
      name.resize(name.size() - suffix.size());
      return true;
    }
    return false;
  };
  strip(".gz");
  strip(".fasta") || strip(".fa") || strip(".faa") || strip(".fas");
  return name;
}

std::vector<std::string> jackhmmer_command(const std::string& binary, const std::string& query_fasta,
                                           const std::string& database, const std::string& out_sto,
                                           int iterations, int cpus) {
  return {binary, "-o", "/dev/null", "-A", out_sto, "--noali", "--F1", "0.0005", "--F2", "0.00005",
          "--F3", "0.0000005", "--incE", "0.0001", "-E", "0.0001", "--cpu", std::to_string(cpus),
          "-N", std::to_string(iterations), query_fasta, database};
}

std::vector<std::string> hhblits_command(const std::string& binary, const std::string& query_fasta,
                                         const std::vector<std::string>& databases, const std::string& out_a3m,
                                         int cpus) {
  std::vector<std::string> argv{binary,     "-i",        query_fasta, "-cpu",         std::to_string(cpus),
                                "-oa3m",    out_a3m,     "-o",        "/dev/null",    "-n",
                                "3",        "-e",        "0.001",     "-maxseq",      "1000000",
                                "-realign_max", "100000", "-maxfilt", "100000",       "-min_prefilter_hits",
                                "1000"};
  for (const auto& db : databases) argv.insert(argv.end(), {"-d", db});
  return argv;
}

std::vector<std::string> hhsearch_command(const std::string& binary, const std::string& input_a3m,
                                          const std::vector<std::string>& databases, const std::string& out_hhr) {
  std::vector<std::string> argv{binary, "-i", input_a3m, "-o", out_hhr, "-maxseq", "1000000"};
  for (const auto& db : databases) argv.insert(argv.end(), {"-d", db});
  return argv;
}

namespace {

// Each database a pending search needs, readied once for the tool: jackhmmer reads a
// gunzipped copy of a .gz, MMseqs2 a createdb database. `work_dir` holds them.
void prepare_databases(std::vector<Database>& dbs, const std::set<const Database*>& needed, const MsaSearchOptions& o,
                       const std::string& tool_path, const std::string& work_dir) {
  for (auto& db : dbs) {
    if (needed.count(&db) == 0) continue;
    const std::string prepared = work_dir + "/db-" + std::to_string(&db - dbs.data()) + "-" + db.name;
    if (o.tool == MsaTool::kJackhmmer && ends_with(db.path, ".gz")) {
      gunzip_to(db.path, prepared + ".fasta", o.cancel);
      db.search_path = prepared + ".fasta";
    } else if (o.tool == MsaTool::kMmseqs && !is_mmseqs_db(db.path)) {
      // Once per database, not per query: createdb of a large database is expensive.
      run_tool({tool_path, "createdb", db.path, prepared}, prepared + ".log", "mmseqs createdb of " + db.path,
               o.cancel);
      db.search_path = prepared;
    }
  }
}

// After the searches: an interruption, or the searches that failed, as one error.
void throw_on_failures(const std::vector<MsaSearchResult>& results, size_t pending, const MsaSearchOptions& o) {
  if (cancelled(o.cancel)) {
    size_t done = 0;
    for (const auto& r : results) done += !r.skipped && r.error.empty() && r.depth > 0;
    throw MsaSearchError("interrupted: " + std::to_string(done) + " of " + std::to_string(pending) +
                         " searches finished and were kept; run the same command again to do the rest");
  }
  std::string failures;
  size_t failed = 0;
  for (const auto& r : results) {
    if (r.error.empty()) continue;
    ++failed;
    failures += "\n" + r.id + " / " + r.database + ": " + r.error;
  }
  if (failed > 0) {
    throw MsaSearchError(std::to_string(failed) + " of " + std::to_string(results.size()) +
                         " searches failed (the others' alignments are written):" + failures);
  }
}

}  // namespace

namespace {

// Per query: one search per sequence database, one hhblits run, then hhsearch, whose
// input is the first of these alignments that exists (AF2: UniRef90's).
std::vector<Task> plan_tasks(const std::vector<Query>& queries, const std::vector<Database>& dbs,
                             const MsaSearchOptions& o) {
  std::vector<Task> tasks;
  for (const auto& q : queries) {
    const fs::path folder = fs::path(o.output_dir) / q.folder;
    std::vector<std::string> alignments;
    for (const auto& db : dbs) {
      tasks.push_back({&q, SearchKind::kSequence, &db, (folder / (db.name + hits_suffix(o.tool))).string(), {}});
      alignments.push_back(tasks.back().final_path);
    }
    if (!o.hhblits_databases.empty()) {
      tasks.push_back({&q, SearchKind::kHhblits, nullptr, (folder / (std::string(kHhblitsName) + "_hits.a3m")).string(), {}});
      alignments.push_back(tasks.back().final_path);
    }
    if (!o.template_databases.empty()) {
      tasks.push_back({&q, SearchKind::kHhsearch, nullptr, (folder / (std::string(kHhsearchName) + "_hits.hhr")).string(),
                       alignments});
    }
  }
  return tasks;
}

}  // namespace

std::vector<MsaSearchResult> run_msa_search(const MsaSearchOptions& o,
                                            const std::function<void(const MsaSearchResult&)>& on_done) {
  if (o.jobs < 1) throw MsaSearchError("--jobs must be at least 1");
  if (o.iterations < 1) throw MsaSearchError("--iterations must be at least 1");
  if (o.output_dir.empty()) throw MsaSearchError("no output folder given (--out)");
  ToolPaths tools;
  if (!o.databases.empty()) tools.sequence = find_tool(sequence_search_program(o));
  if (!o.hhblits_databases.empty())
    tools.hhblits = find_tool({"hhblits", o.hhblits_binary, "--hhblits-binary", "hhsuite", "HH-suite"});
  if (!o.template_databases.empty())
    tools.hhsearch = find_tool({"hhsearch", o.hhsearch_binary, "--hhsearch-binary", "hhsuite", "HH-suite"});
  std::vector<Database> dbs = check_databases(o);
  const std::vector<Query> queries = read_queries(o.fasta);
  const std::vector<Task> tasks = plan_tasks(queries, dbs, o);

  std::vector<MsaSearchResult> results(tasks.size());
  std::vector<size_t> pending, pending_hhsearch;
  std::set<const Database*> needed;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const Task& t = tasks[i];
    results[i].id = t.query->folder;
    results[i].database = t.kind == SearchKind::kSequence ? t.db->name
                          : t.kind == SearchKind::kHhblits ? kHhblitsName
                                                           : kHhsearchName;
    results[i].path = t.final_path;
    if (fs::exists(t.final_path)) {
      results[i].skipped = true;
      if (on_done) on_done(results[i]);
    } else {
      (t.kind == SearchKind::kHhsearch ? pending_hhsearch : pending).push_back(i);
      if (t.kind == SearchKind::kSequence) needed.insert(t.db);
    }
  }
  const size_t total_pending = pending.size() + pending_hhsearch.size();
  if (total_pending == 0) return results;

  const WorkDir work = [&] {
    try {
      return WorkDir(o.tmp_dir, "fold-msa");
    } catch (const SubprocessError& e) {
      throw MsaSearchError(std::string(e.what()) + " (choose another with --tmp-dir)");
    }
  }();
  prepare_databases(dbs, needed, o, tools.sequence, work.path());

  const unsigned hw = std::thread::hardware_concurrency();
  const int total_cpus = o.cpus > 0 ? o.cpus : static_cast<int>(hw > 0 ? hw : 1);
  std::mutex mutex;
  // The searches of `ids`, `jobs` at a time, sharing the cores.
  auto run_all = [&](const std::vector<size_t>& ids) {
    if (ids.empty()) return;
    const int workers = std::min<int>(o.jobs, static_cast<int>(ids.size()));
    const int cpus = std::max(1, total_cpus / workers);
    std::atomic<size_t> next{0};
    auto worker = [&] {
      for (size_t k = next++; k < ids.size(); k = next++) {
        const size_t i = ids[k];
        MsaSearchResult& r = results[i];
        if (cancelled(o.cancel)) continue;  // not run: reported as a whole below
        const auto start = std::chrono::steady_clock::now();
        try {
          search_one(tasks[i], o, tools, work.path(), cpus, i, r);
        } catch (const std::exception& e) {
          r.error = e.what();
        }
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (!r.error.empty() && cancelled(o.cancel)) continue;  // interrupted: reported as a whole below
        std::lock_guard<std::mutex> lock(mutex);
        if (on_done) on_done(r);
      }
    };
    std::vector<std::thread> threads;
    for (int w = 1; w < workers; ++w) threads.emplace_back(worker);
    worker();
    for (auto& t : threads) t.join();
  };
  // hhsearch last: its input is an alignment the other searches write.
  run_all(pending);
  run_all(pending_hhsearch);

  throw_on_failures(results, total_pending, o);
  return results;
}

}  // namespace fold::data
