// `fold msa`: builds MSAs and template hits for the records of a FASTA file by running
// jackhmmer (HMMER) or MMseqs2 against protein databases, hhblits (HH-suite) against
// BFD/UniClust-style databases and hhsearch against a PDB70-style database, and writes
// them in OpenFold's per-chain alignment layout: `<out>/<id>/<db>_hits.sto` (jackhmmer)
// or `<db>_hits.a3m` (MMseqs2), `bfd_uniclust_hits.a3m` (hhblits) and `pdb70_hits.hhr`
// (hhsearch), the layout `fold prepare`, `fold predict --alignment-dir` and OpenFold's
// `--use_precomputed_alignments` read.
//
// jackhmmer runs with AlphaFold2's flags (alphafold/data/tools/jackhmmer.py):
//   -o /dev/null -A OUT.sto --noali --F1 0.0005 --F2 0.00005 --F3 0.0000005
//   --incE 0.0001 -E 0.0001 --cpu C -N <iterations>
// Its -A alignment (HMMER 3.3) holds the query itself as the first row, which is what
// AlphaFold's Stockholm parser and read_msa take as the query.
// MMseqs2 runs createdb (once per database) / search --num-iterations <iterations> /
// result2msa --msa-format-mode 6 (A3M, query first, alignment statistics in the headers)
// --filter-msa 0 (every hit kept, as jackhmmer's alignment keeps them; deduplication
// and clustering belong to the feature pipeline).
//
// hhblits and hhsearch run with AlphaFold2's flags (alphafold/data/tools/hhblits.py,
// hhsearch.py):
//   hhblits -i Q.fasta -cpu C -oa3m OUT.a3m -o /dev/null -n 3 -e 0.001 -maxseq 1000000
//     -realign_max 100000 -maxfilt 100000 -min_prefilter_hits 1000 -d DB1 -d DB2 ...
//   hhsearch -i IN.a3m -o OUT.hhr -maxseq 1000000 -d PDB70
// hhsearch runs after the other searches of its query, because its input is one of their
// alignments: as in AF2, the first sequence database's (UniRef90's there), its first
// 10,000 rows with duplicate rows removed, as A3M; without sequence databases, the
// hhblits alignment; without either, the query alone.
//
// Every alignment is checked with read_msa (query first, equal to the record's
// sequence) before it is renamed into place, so an interrupted or failed search never
// leaves a partial file under a name the loaders read; an alignment that already exists
// is kept, so re-running after an interruption only does the missing work.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace fold::data {

enum class MsaTool { kJackhmmer, kMmseqs };

// "jackhmmer" / "mmseqs"; parse_msa_tool throws MsaSearchError for other names.
const char* msa_tool_name(MsaTool tool);
MsaTool parse_msa_tool(const std::string& name);

struct MsaSearchOptions {
  std::string fasta;                   // query records (plain or .gz)
  std::vector<std::string> databases;  // protein FASTA (plain or .gz), or an MMseqs2 DB
  MsaTool tool = MsaTool::kJackhmmer;  // searches `databases`
  // HH-suite database prefixes (PREFIX_a3m/_hhm/_cs219.ffindex/.ffdata), all searched by
  // one hhblits run per query -> bfd_uniclust_hits.a3m (AF2: BFD and UniClust30).
  std::vector<std::string> hhblits_databases;
  // PDB70-style HH-suite database prefixes for hhsearch -> pdb70_hits.hhr.
  std::vector<std::string> template_databases;
  std::string output_dir;
  int jobs = 1;        // searches run at the same time
  int cpus = 0;        // cores shared by the jobs (0: all); each tool gets cpus / jobs
  int iterations = 3;  // jackhmmer -N, mmseqs --num-iterations
  // A name is looked up on PATH; a name with a '/' is used as a path.
  std::string jackhmmer_binary = "jackhmmer";
  std::string mmseqs_binary = "mmseqs";
  std::string hhblits_binary = "hhblits";
  std::string hhsearch_binary = "hhsearch";
  std::string tmp_dir;  // work files (decompressed databases, MMseqs2 DBs); "" = $TMPDIR or /tmp
  // When set and it becomes true (e.g. from a SIGINT handler): running tools are
  // terminated, no further search starts, the work files are removed and
  // run_msa_search throws MsaSearchError; finished alignments stay.
  const std::atomic<bool>* cancel = nullptr;
};

// One search of one query: against one sequence database, or hhblits, or hhsearch.
struct MsaSearchResult {
  std::string id;        // the record's folder name (safe_file_name of its id)
  std::string database;  // database_name of the database; "bfd_uniclust" (hhblits); "pdb70" (hhsearch)
  std::string path;      // the alignment (or template hits) file
  bool skipped = false;  // the file existed already and was kept
  size_t depth = 0;      // rows including the query, or hhsearch's hits (0 when skipped or failed)
  double seconds = 0.0;  // wall time of this search
  std::string error;     // non-empty when this search failed
};

// Bad options, a missing tool or database, and tool failures. Malformed FASTA input is
// reported as ParseError (data/parse_error.h), as everywhere in data/.
class MsaSearchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A FASTA record id as a folder name: characters other than letters, digits, '.', '_'
// and '-' become '_' ("sp|P69905|HBA_HUMAN" -> "sp_P69905_HBA_HUMAN"); ids that would
// name no folder ("", ".", "..") become "_", "_.", "_..".
std::string safe_file_name(std::string_view id);

// The database's name in "<db>_hits.*": the file name without ".gz" and then without
// ".fasta", ".fa", ".faa" or ".fas" (".../uniref90.fasta" -> "uniref90", "DB.fasta.gz" -> "DB").
std::string database_name(const std::string& path);

// The jackhmmer argument list (argv[0] included) AlphaFold2 uses.
std::vector<std::string> jackhmmer_command(const std::string& binary, const std::string& query_fasta,
                                           const std::string& database, const std::string& out_sto,
                                           int iterations, int cpus);

// The hhblits and hhsearch argument lists (argv[0] included) AlphaFold2 uses.
std::vector<std::string> hhblits_command(const std::string& binary, const std::string& query_fasta,
                                         const std::vector<std::string>& databases, const std::string& out_a3m,
                                         int cpus);
std::vector<std::string> hhsearch_command(const std::string& binary, const std::string& input_a3m,
                                          const std::vector<std::string>& databases, const std::string& out_hhr);

// Checks the tools, the databases and the FASTA before anything runs (throws
// MsaSearchError or ParseError), then runs every (record, database) search whose
// alignment does not exist yet, `jobs` at a time. `on_done` is called once per search,
// from one thread at a time, as each finishes (skipped ones first). A failed search
// does not stop the others (a query's hhsearch takes what its other searches left);
// when any failed, MsaSearchError is thrown at the end, naming each failed (record,
// database) with the tool's error output.
std::vector<MsaSearchResult> run_msa_search(const MsaSearchOptions& options,
                                            const std::function<void(const MsaSearchResult&)>& on_done = {});

}  // namespace fold::data
