#include "output_dir.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../atomic_file.hpp"
#include "../hidden_sibling.hpp"
#include "../publish.hpp"
#include "eulerstack/diagnostics.hpp"

namespace fs = std::filesystem;

namespace eulerstack::cli {
namespace {

Error cannot_write(const fs::path& path, const std::string& reason) {
  return Error(make_error("IOError", "io.cannot_write", {{"path", path.string()}, {"reason", reason}}));
}

// A fresh, unique sibling of `target` named .<name>.<tag>-XXXXXX.
fs::path unique_sibling(const fs::path& target, const char* tag) {
  std::string pattern = hidden_sibling_template(target, tag);
  if (!::mkdtemp(pattern.data()))
    throw cannot_write(target, std::string("cannot create a directory beside it: ") + std::strerror(errno));
  return pattern;
}

}  // namespace

void check_interrupted() {
  if (stop_requested()) throw Error(make_error("IOError", "io.interrupted"));
}

StagedDirectory::StagedDirectory(fs::path target, bool replace) : target_(std::move(target)), replace_(replace) {
  if (target_.empty())
    throw Error(make_error("UsageError", "cli.usage", {{"reason", "--output-dir needs a directory name"}, {"command", "compile"}}));
  if (target_.filename().empty()) target_ = target_.parent_path();  // "dir/" -> "dir"
  target_ = fs::absolute(target_);
  std::error_code ec;
  const auto status = fs::symlink_status(target_, ec);
  if (fs::is_symlink(status)) throw cannot_write(target_, "it is a symbolic link; name the directory itself");
  if (fs::exists(status) && !fs::is_directory(status)) throw cannot_write(target_, "it is a file");
  if (fs::is_directory(target_, ec) && !fs::is_empty(target_, ec) && !replace)
    throw Error(make_error("IOError", "io.output_dir_not_empty", {{"path", target_.string()}}));
  if (replace && fs::is_directory(status))
    if (auto mount = mount_point_inside(target_))
      throw Error(make_error("IOError", "io.output_dir_has_mount", {{"path", target_.string()}, {"mount", mount->string()}}));
  if (!fs::is_directory(target_.parent_path(), ec))
    throw cannot_write(target_, "the directory " + target_.parent_path().string() + " does not exist");
  staging_ = unique_sibling(target_, "partial");  // 0700 while it is written
}

StagedDirectory::~StagedDirectory() {
  std::error_code ec;
  if (!published_) fs::remove_all(staging_, ec);
}

std::optional<Diagnostic> StagedDirectory::publish() {
  check_interrupted();
  // The directory appears as a plain mkdir would have made it.
  if (::chmod(staging_.c_str(), 0777 & ~current_umask()) != 0) throw cannot_write(target_, std::strerror(errno));
  auto leftover = publish_directory(staging_, target_, replace_);
  published_ = true;  // what is at staging_ now is the previous directory, or what is left of it
  return leftover;
}

}  // namespace eulerstack::cli
