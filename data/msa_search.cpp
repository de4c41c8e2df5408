#include "data/msa_search.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
#include <sstream>
#include <thread>
#include <vector>

#include "data/fasta.h"
#include "data/msa.h"
#include "data/parse_error.h"
#include "data/text_file.h"

extern char** environ;

namespace fold::data {
namespace fs = std::filesystem;

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

const char* how_to_install(MsaTool tool) {
  return tool == MsaTool::kJackhmmer
             ? "jackhmmer is part of HMMER: tools/setup.sh installs it (Debian package 'hmmer'), "
               "or pass its path with --jackhmmer-binary"
             : "mmseqs is MMseqs2: tools/setup.sh installs it (Debian package 'mmseqs2'), "
               "or pass its path with --mmseqs-binary";
}

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// The tool's full path, found as a shell would find it, so a missing tool is reported
// before any work starts rather than as a spawn failure in the middle of a run.
std::string find_tool(MsaTool tool, const std::string& binary) {
  const std::string name = msa_tool_name(tool);
  if (binary.empty()) throw MsaSearchError(name + " binary: empty name. " + how_to_install(tool));
  if (binary.find('/') != std::string::npos) {
    if (is_executable_file(binary)) return binary;
    throw MsaSearchError(name + " not found: '" + binary + "' is not an executable file. " + how_to_install(tool));
  }
  const char* path_env = std::getenv("PATH");
  const std::string path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    const std::string dir = end > start ? path.substr(start, end - start) : ".";
    const std::string candidate = dir + "/" + binary;
    if (is_executable_file(candidate)) return candidate;
    start = end + 1;
  }
  throw MsaSearchError(name + " not found: no '" + binary + "' on PATH. " + how_to_install(tool));
}

bool is_mmseqs_db(const std::string& path) { return fs::exists(path + ".dbtype"); }

std::string missing_database_message(const std::string& path) {
  return "database not found: " + path +
         " (a protein FASTA file, plain or .gz; tools/setup.sh fetches a small real one, "
         "examples/.cache/mmseqs2-examples/usr/share/doc/mmseqs2/example-data/DB.fasta.gz)";
}

class TempDir {
 public:
  explicit TempDir(const std::string& parent) {
    const std::string base = parent.empty() ? fs::temp_directory_path().string() : parent;
    std::error_code ec;
    fs::create_directories(base, ec);
    std::string templ = base + "/fold-msa-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
      throw MsaSearchError("cannot create a work folder in " + base + ": " + std::strerror(errno) +
                           " (choose another with --tmp-dir)");
    }
    path_ = buf.data();
  }
  ~TempDir() { remove_tree(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string shell_quote_join(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                         "0123456789_-./=:,+") == std::string::npos;
    s += plain ? a : "'" + a + "'";
  }
  return s;
}

// The last lines of a tool's log: where HMMER and MMseqs2 print the reason they failed.
std::string log_tail(const std::string& path, size_t max_lines = 15, size_t max_chars = 2000) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  while (!text.empty() && is_space(text.back())) text.pop_back();
  size_t pos = text.size();
  for (size_t lines = 0; pos > 0 && lines < max_lines; ++lines) {
    const size_t nl = text.rfind('\n', pos - 1);
    pos = nl == std::string::npos ? 0 : nl;
  }
  std::string tail = text.substr(pos);
  if (tail.size() > max_chars) tail = "..." + tail.substr(tail.size() - max_chars);
  while (!tail.empty() && is_space(tail.front())) tail.erase(tail.begin());
  return tail.empty() ? "(no output)" : tail;
}

bool cancelled(const std::atomic<bool>* cancel) { return cancel != nullptr && cancel->load(); }

// Runs argv with stdout and stderr in `log` and stdin from /dev/null; throws
// MsaSearchError with the command and the end of its log unless it exits with 0.
// posix_spawn rather than system(): no shell quoting of user paths, and safe to call
// from the worker threads. With a cancel flag, the tool gets its own process group so
// that a cancel can terminate all of it (mmseqs runs helper processes), and waiting
// polls so a cancel is seen while the tool runs. Without one, the tool stays in our
// process group, so a Ctrl-C that ends this process ends the tool too.
void run_tool(const std::vector<std::string>& argv, const std::string& log, const std::string& what,
              const std::atomic<bool>* cancel) {
  if (cancelled(cancel)) throw MsaSearchError(what + ": interrupted");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (cancel != nullptr) {
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
  }
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, argv[0].c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    throw MsaSearchError(what + ": cannot start " + argv[0] + ": " + std::strerror(rc));
  }
  int status = 0;
  bool terminated = false;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, cancel != nullptr ? WNOHANG : 0);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) throw MsaSearchError(what + ": waitpid failed: " + std::strerror(errno));
    if (done == 0) {
      if (!terminated && cancelled(cancel)) {
        ::kill(-pid, SIGTERM);
        terminated = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  if (terminated) throw MsaSearchError(what + ": interrupted");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  const std::string how = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                            : "killed by signal " + std::to_string(WTERMSIG(status));
  throw MsaSearchError(what + " failed (" + how + ")\n  command: " + shell_quote_join(argv) + "\n  output:\n" +
                       log_tail(log));
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

std::vector<Database> check_databases(const MsaSearchOptions& o) {
  if (o.databases.empty()) throw MsaSearchError("no database given (--db DB.fasta, repeatable)");
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

struct Task {
  const Query* query;
  const Database* db;
  std::string final_path;
};

std::string hits_suffix(MsaTool tool) { return tool == MsaTool::kJackhmmer ? "_hits.sto" : "_hits.a3m"; }

void search_one(const Task& t, const MsaSearchOptions& o, const std::string& tool_path, const std::string& work,
                int cpus, size_t index, MsaSearchResult& result) {
  const fs::path final_path(t.final_path);
  std::error_code ec;
  fs::create_directories(final_path.parent_path(), ec);
  if (ec) throw MsaSearchError("cannot create " + final_path.parent_path().string() + ": " + ec.message());
  // Beside the final file (same file system, so the rename is atomic) under a name no
  // alignment loader picks up (it does not end in .sto or .a3m).
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

  const std::string query_fasta = dir + "/query.fasta";
  {
    std::ofstream out(query_fasta);
    out << '>' << t.query->record.id << '\n' << t.query->sequence << '\n';
    if (!out.flush()) throw MsaSearchError("cannot write " + query_fasta);
  }
  const std::string what_suffix = " ('" + t.query->record.id + "' against " + t.db->path + ")";
  const std::string log = dir + "/tool.log";
  if (o.tool == MsaTool::kJackhmmer) {
    run_tool(jackhmmer_command(tool_path, query_fasta, t.db->search_path, tmp, o.iterations, cpus), log,
             "jackhmmer" + what_suffix, o.cancel);
  } else {
    const std::string threads = std::to_string(cpus);
    run_tool({tool_path, "createdb", query_fasta, dir + "/qdb"}, log, "mmseqs createdb" + what_suffix, o.cancel);
    run_tool({tool_path, "search", dir + "/qdb", t.db->search_path, dir + "/res", dir + "/tmp", "--num-iterations",
              std::to_string(o.iterations), "--threads", threads},
             log, "mmseqs search" + what_suffix, o.cancel);
    run_tool({tool_path, "result2msa", dir + "/qdb", t.db->search_path, dir + "/res", dir + "/msa",
              "--msa-format-mode", "6", "--filter-msa", "0", "--threads", threads},
             log, "mmseqs result2msa" + what_suffix, o.cancel);
    copy_without_nul(dir + "/msa", tmp);
  }
  if (!fs::exists(tmp)) throw MsaSearchError(std::string(msa_tool_name(o.tool)) + " wrote no alignment" + what_suffix);
  // Checked with the project's own parser before it gets its final name, so every
  // file under that name is one the pipeline reads, query first.
  Msa msa;
  try {
    const std::string text = read_text_file(tmp);
    msa = o.tool == MsaTool::kJackhmmer ? parse_stockholm(text, tmp) : parse_a3m(text, tmp);
  } catch (const ParseError& e) {
    throw MsaSearchError(std::string(msa_tool_name(o.tool)) + " output is not a readable alignment" + what_suffix +
                         ": " + e.what());
  }
  if (!is_query_row(msa.sequences.front(), t.query->sequence)) {
    throw MsaSearchError(std::string(msa_tool_name(o.tool)) + " output" + what_suffix +
                         ": the first row is not the query (got " + msa.sequences.front() + ")");
  }
  fs::rename(tmp, final_path, ec);
  if (ec) throw MsaSearchError("cannot rename " + tmp + " to " + final_path.string() + ": " + ec.message());
  result.depth = msa.depth();
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

std::vector<MsaSearchResult> run_msa_search(const MsaSearchOptions& o,
                                            const std::function<void(const MsaSearchResult&)>& on_done) {
  if (o.jobs < 1) throw MsaSearchError("--jobs must be at least 1");
  if (o.iterations < 1) throw MsaSearchError("--iterations must be at least 1");
  if (o.output_dir.empty()) throw MsaSearchError("no output folder given (--out)");
  const std::string tool_path =
      find_tool(o.tool, o.tool == MsaTool::kJackhmmer ? o.jackhmmer_binary : o.mmseqs_binary);
  std::vector<Database> dbs = check_databases(o);
  const std::vector<Query> queries = read_queries(o.fasta);

  std::vector<Task> tasks;
  for (const auto& q : queries)
    for (const auto& db : dbs)
      tasks.push_back({&q, &db, (fs::path(o.output_dir) / q.folder / (db.name + hits_suffix(o.tool))).string()});

  std::vector<MsaSearchResult> results(tasks.size());
  std::vector<size_t> pending;
  std::set<const Database*> needed;
  for (size_t i = 0; i < tasks.size(); ++i) {
    results[i].id = tasks[i].query->folder;
    results[i].database = tasks[i].db->name;
    results[i].path = tasks[i].final_path;
    if (fs::exists(tasks[i].final_path)) {
      results[i].skipped = true;
      if (on_done) on_done(results[i]);
    } else {
      pending.push_back(i);
      needed.insert(tasks[i].db);
    }
  }
  if (pending.empty()) return results;

  TempDir work(o.tmp_dir);
  prepare_databases(dbs, needed, o, tool_path, work.path());

  const unsigned hw = std::thread::hardware_concurrency();
  const int total_cpus = o.cpus > 0 ? o.cpus : static_cast<int>(hw > 0 ? hw : 1);
  const int workers = std::min<int>(o.jobs, static_cast<int>(pending.size()));
  const int cpus = std::max(1, total_cpus / workers);

  std::atomic<size_t> next{0};
  std::mutex mutex;
  auto worker = [&] {
    for (size_t k = next++; k < pending.size(); k = next++) {
      const size_t i = pending[k];
      MsaSearchResult& r = results[i];
      if (cancelled(o.cancel)) continue;  // not run: reported as a whole below
      const auto start = std::chrono::steady_clock::now();
      try {
        search_one(tasks[i], o, tool_path, work.path(), cpus, i, r);
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

  throw_on_failures(results, pending.size(), o);
  return results;
}

}  // namespace fold::data
