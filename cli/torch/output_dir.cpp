#include "output_dir.hpp"

#include <csignal>
#include <cstdlib>
#include <string>

#include "eulerstack/diagnostics.hpp"

namespace fs = std::filesystem;

namespace eulerstack::cli {
namespace {

volatile std::sig_atomic_t interrupted = 0;

extern "C" void on_signal(int) { interrupted = 1; }

Error cannot_write(const fs::path& path, const std::string& reason) {
  return Error(make_error("IOError", "io.cannot_write", {{"path", path.string()}, {"reason", reason}}));
}

// A fresh, unique sibling of `target` named .<name>.<tag>-XXXXXX.
fs::path unique_sibling(const fs::path& target, const char* tag) {
  std::string pattern = (target.parent_path() / ("." + target.filename().string() + "." + tag + "-XXXXXX")).string();
  if (!::mkdtemp(pattern.data())) throw cannot_write(target, "cannot create a directory beside it");
  return pattern;
}

}  // namespace

void check_interrupted() {
  if (interrupted) throw Error(make_error("IOError", "io.interrupted"));
}

StagedDirectory::StagedDirectory(fs::path target, bool replace) : target_(std::move(target)) {
  if (target_.filename().empty()) target_ = target_.parent_path();  // "dir/" -> "dir"
  target_ = fs::absolute(target_);
  std::error_code ec;
  if (fs::exists(target_, ec) && !fs::is_directory(target_, ec)) throw cannot_write(target_, "it is a file");
  if (fs::is_directory(target_, ec) && !fs::is_empty(target_, ec) && !replace)
    throw Error(make_error("IOError", "io.output_dir_not_empty", {{"path", target_.string()}}));
  if (!fs::is_directory(target_.parent_path(), ec))
    throw cannot_write(target_, "the directory " + target_.parent_path().string() + " does not exist");
  staging_ = unique_sibling(target_, "partial");
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

StagedDirectory::~StagedDirectory() {
  std::error_code ec;
  if (!published_) fs::remove_all(staging_, ec);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

void StagedDirectory::publish() {
  check_interrupted();
  std::error_code ec;
  fs::path previous;
  if (fs::exists(target_, ec)) {
    previous = unique_sibling(target_, "previous");
    fs::remove(previous, ec);
    fs::rename(target_, previous, ec);
    if (ec) throw cannot_write(target_, ec.message());
  }
  fs::rename(staging_, target_, ec);
  if (ec) {
    if (!previous.empty()) fs::rename(previous, target_, ec);  // put the user's directory back
    throw cannot_write(target_, ec.message());
  }
  published_ = true;
  if (!previous.empty()) fs::remove_all(previous, ec);
}

}  // namespace eulerstack::cli
