// Output safety for every command that writes: nothing a command did not create is destroyed.
//
// - check_output_apart: an output (folder or file) must not be, contain or lie inside a folder the
//   command reads (model, tokenizer, adapter, reference, dataset folders) nor be one of its input
//   files. `dpo train`/`dpo sft` (output_dir), `dpo eval --per-example`, `dpo merge --output`.
// - check_replaceable_output: for commands that replace their output whole (`dpo merge`, `dpo
//   export`): additionally never the current folder or one above it, and an existing output only
//   when it is empty, a previous output of the same command (recognised by the marker file
//   kOutputMarker that StagedOutput writes, or by a caller's test for file outputs), or with
//   --overwrite.
// - StagedOutput: the output is written into OUT.tmp.PID and swapped into place atomically
//   (renameat2 RENAME_EXCHANGE; two renames where the filesystem lacks it), so a kill at any moment
//   leaves the old output or the new one. Stale OUT.tmp.PID / OUT.old.PID of dead processes are
//   cleaned first (an OUT.old.PID is put back when OUT is missing).
// - InterruptCleanup: while alive, SIGINT/SIGTERM remove the temporaries in progress (StagedOutput
//   folders and AtomicFile files) and exit with 128 + the signal number.
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace dpo {

namespace fs = std::filesystem;

// The marker file in a folder written by StagedOutput: {"written_by": "dpo merge"}.
inline constexpr const char* kOutputMarker = ".dpo-output.json";

// A path the command reads, that its output must keep apart from.
struct ProtectedPath {
  fs::path path;
  std::string role;    // for messages: "base model", "adapter", "tokenizer"
  std::string option;  // where it was given: "--model", "model_name_or_path"
  // true: a folder (the output must not be it, contain it or lie inside it); false: one file (the
  // output must not be it).
  bool folder = true;
};

// UserError when `output` (given as `option`) is, contains or lies inside a protected folder, or is
// a protected file. `advice` ends the message ("choose another output_dir"). Empty paths in
// `inputs` are ignored. Symbolic links are resolved; existing paths are compared by identity.
void check_output_apart(const fs::path& output, const std::string& option,
                        const std::vector<ProtectedPath>& inputs, const std::string& advice);

// True when `dir` holds a kOutputMarker written by `command` ("dpo merge").
bool is_previous_output(const fs::path& dir, const std::string& command);

// What a replacing command needs checked before it starts the (long) work.
struct ReplaceableOutput {
  fs::path path;
  std::string option = "--output";  // for messages
  std::string command;              // "dpo merge": the marker it writes and recognises
  bool overwrite = false;           // --overwrite: any existing output may be replaced
  // For an output that is a file (no marker possible): true when the existing file is a previous
  // output (e.g. a GGUF file with dpo's metadata). Unset: an existing file needs --overwrite.
  std::function<bool(const fs::path&)> is_previous_file;
};

// check_output_apart (advice: write to a new folder), then refuses the current folder or a folder
// above it (even with --overwrite), and an existing output that is neither empty nor a previous
// output of `command` unless `overwrite`. UserErrors name the option, the path and the way out.
void check_replaceable_output(const ReplaceableOutput& output,
                              const std::vector<ProtectedPath>& inputs);

// Removes TARGET.tmp.PID and TARGET.old.PID siblings left by dead processes (kill -9, a power
// cut); an OUT.old.PID is renamed back to TARGET when TARGET is missing (a kill between the two
// renames of a replacement). Returns what was done, one line each, for the log.
std::vector<std::string> remove_stale_temporaries(const fs::path& target);

// A folder output written aside and swapped into place.
class StagedOutput {
 public:
  // Cleans stale temporaries of `target` (logged), then creates the empty TARGET.tmp.PID.
  // `marker_command` non-empty: commit() writes kOutputMarker naming it.
  StagedOutput(fs::path target, std::string marker_command);
  ~StagedOutput();  // not committed: the temporary is removed
  StagedOutput(const StagedOutput&) = delete;
  StagedOutput& operator=(const StagedOutput&) = delete;

  const fs::path& path() const { return tmp_; }  // write the output's files here
  const fs::path& target() const { return target_; }
  // Writes the marker, syncs, and replaces the target (whatever it was) by the temporary.
  void commit();

 private:
  fs::path target_, tmp_;
  std::string marker_command_;
  bool committed_ = false;
};

// SIGINT / SIGTERM handlers for a command that has no graceful stop of its own (dpo merge, dpo
// report): the temporaries registered (register_temporary; StagedOutput and AtomicFile do) are
// removed and the process exits with 128 + the signal. The previous handlers come back when it
// is destroyed. One at a time.
class InterruptCleanup {
 public:
  InterruptCleanup();
  ~InterruptCleanup();
  InterruptCleanup(const InterruptCleanup&) = delete;
  InterruptCleanup& operator=(const InterruptCleanup&) = delete;
};

// The registry InterruptCleanup empties: files or folders being written by this process.
void register_temporary(const fs::path& path);
void unregister_temporary(const fs::path& path);

}  // namespace dpo
