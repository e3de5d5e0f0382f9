#include "output_dir.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../atomic_file.hpp"
#include "eulerstack/diagnostics.hpp"

namespace fs = std::filesystem;

namespace eulerstack::cli {
namespace {

volatile std::sig_atomic_t interrupted = 0;

extern "C" void on_signal(int) { interrupted = 1; }

constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

Error cannot_write(const fs::path& path, const std::string& reason) {
  return Error(make_error("IOError", "io.cannot_write", {{"path", path.string()}, {"reason", reason}}));
}

// A fresh, unique sibling of `target` named .<name>.<tag>-XXXXXX.
fs::path unique_sibling(const fs::path& target, const char* tag) {
  std::string pattern = (target.parent_path() / ("." + target.filename().string() + "." + tag + "-XXXXXX")).string();
  if (!::mkdtemp(pattern.data()))
    throw cannot_write(target, std::string("cannot create a directory beside it: ") + std::strerror(errno));
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
  const auto status = fs::symlink_status(target_, ec);
  if (fs::is_symlink(status)) throw cannot_write(target_, "it is a symbolic link; name the directory itself");
  if (fs::exists(status) && !fs::is_directory(status)) throw cannot_write(target_, "it is a file");
  if (fs::is_directory(target_, ec) && !fs::is_empty(target_, ec) && !replace)
    throw Error(make_error("IOError", "io.output_dir_not_empty", {{"path", target_.string()}}));
  if (!fs::is_directory(target_.parent_path(), ec))
    throw cannot_write(target_, "the directory " + target_.parent_path().string() + " does not exist");
  staging_ = unique_sibling(target_, "partial");  // 0700 while it is written
  for (int signal : kStopSignals) std::signal(signal, on_signal);
}

StagedDirectory::~StagedDirectory() {
  std::error_code ec;
  if (!published_) fs::remove_all(staging_, ec);
  for (int signal : kStopSignals) std::signal(signal, SIG_DFL);
}

void StagedDirectory::publish() {
  check_interrupted();
  // The directory appears as a plain mkdir would have made it.
  if (::chmod(staging_.c_str(), 0777 & ~current_umask()) != 0) throw cannot_write(target_, std::strerror(errno));
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
