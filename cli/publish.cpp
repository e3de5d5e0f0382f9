#include "publish.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace fs = std::filesystem;

namespace eulerstack::cli {
namespace {

[[noreturn]] void cannot_write(const fs::path& path, const std::string& reason) {
  throw Error(make_error("IOError", "io.cannot_write", {{"path", path.string()}, {"reason", reason}}));
}

[[noreturn]] void appeared(const fs::path& path) {
  throw Error(make_error("IOError", "io.target_appeared", {{"path", path.string()}}));
}

bool unsupported(int error) { return error == EINVAL || error == ENOSYS || error == ENOTSUP; }

// 0, or the errno of renameat2(RENAME_NOREPLACE); EINVAL where the file system has no such rename.
int rename_noreplace(const fs::path& from, const fs::path& to) {
  return ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0 ? 0 : errno;
}

// Removes a tree without following links or entering another file system.
struct Removal {
  static inline dev_t device = 0;
  static inline int first_error = 0;
  static inline std::string first_failure;

  static int remove_one(const char* path, const struct stat* st, int type, struct FTW*) {
    int result = -1;
    if (type == FTW_NS) {
      errno = EACCES;  // not even stat'ed: it stays
    } else if (st->st_dev != device) {
      return 0;  // FTW_MOUNT keeps nftw on the file system; this is a second guard
    } else {
      result = (type == FTW_DP || type == FTW_D || type == FTW_DNR) ? ::rmdir(path) : ::unlink(path);
    }
    if (result != 0 && first_error == 0) {
      first_error = errno;
      first_failure = path;
    }
    return 0;  // go on: remove what can be removed
  }
};

struct MountSearch {
  static inline dev_t device = 0;
  static inline std::string found;

  static int visit(const char* path, const struct stat* st, int, struct FTW* ftw) {
    if (ftw->level > 0 && st->st_dev != device) {
      found = path;
      return 1;  // stop
    }
    return 0;
  }
};

}  // namespace

void publish_file(const fs::path& staged, const fs::path& target, bool replace_regular) {
  if (replace_regular) {
    struct stat now {};
    if (::lstat(target.c_str(), &now) == 0 && !S_ISREG(now.st_mode)) appeared(target);  // it changed meanwhile
    if (::rename(staged.c_str(), target.c_str()) != 0) cannot_write(target, std::strerror(errno));
    return;
  }
  const int error = rename_noreplace(staged, target);
  if (error == 0) return;
  if (error == EEXIST) appeared(target);
  if (!unsupported(error)) cannot_write(target, std::strerror(error));
  // No RENAME_NOREPLACE here: link() refuses an existing name just as atomically.
  if (::link(staged.c_str(), target.c_str()) != 0) {
    if (errno == EEXIST) appeared(target);
    cannot_write(target, std::strerror(errno));
  }
  ::unlink(staged.c_str());
}

std::optional<Diagnostic> publish_directory(const fs::path& staged, const fs::path& target, bool replace) {
  struct stat existing {};
  const bool exists = ::lstat(target.c_str(), &existing) == 0;
  if (exists && !S_ISDIR(existing.st_mode)) appeared(target);
  if (replace && exists) {
    if (::renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) != 0) {
      if (!unsupported(errno)) cannot_write(target, std::strerror(errno));
      // No atomic swap here: move the old one aside first, put it back on failure.
      if (::rename(target.c_str(), (staged.string() + ".previous").c_str()) != 0) cannot_write(target, std::strerror(errno));
      if (::rename(staged.c_str(), target.c_str()) != 0) {
        const int error = errno;
        ::rename((staged.string() + ".previous").c_str(), target.c_str());
        cannot_write(target, std::strerror(error));
      }
      ::rename((staged.string() + ".previous").c_str(), staged.c_str());
    }
    // The previous directory now sits at `staged`.
    Removal::device = existing.st_dev;
    Removal::first_error = 0;
    Removal::first_failure.clear();
    ::nftw(staged.c_str(), Removal::remove_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    struct stat left {};
    if (::lstat(staged.c_str(), &left) != 0) return std::nullopt;
    return make_error("IOError", "io.previous_not_removed",
                      {{"path", target.string()}, {"left", staged.string()},
                       {"failure", Removal::first_failure.empty() ? staged.string() : Removal::first_failure},
                       {"reason", std::strerror(Removal::first_error ? Removal::first_error : EBUSY)}});
  }
  if (exists) ::rmdir(target.c_str());  // only an empty directory goes; anything in it stays, and the rename below refuses
  const int error = rename_noreplace(staged, target);
  if (error == 0) return std::nullopt;
  if (error == EEXIST || error == ENOTEMPTY) appeared(target);
  if (!unsupported(error)) cannot_write(target, std::strerror(error));
  // No RENAME_NOREPLACE here: rename(2) still refuses a non-empty directory, so nothing is lost.
  if (::rename(staged.c_str(), target.c_str()) != 0) {
    if (errno == EEXIST || errno == ENOTEMPTY) appeared(target);
    cannot_write(target, std::strerror(errno));
  }
  return std::nullopt;
}

std::optional<fs::path> mount_point_inside(const fs::path& dir) {
  struct stat root {};
  if (::lstat(dir.c_str(), &root) != 0 || !S_ISDIR(root.st_mode)) return std::nullopt;
  MountSearch::device = root.st_dev;
  MountSearch::found.clear();
  ::nftw(dir.c_str(), MountSearch::visit, 32, FTW_PHYS);
  if (MountSearch::found.empty()) return std::nullopt;
  return fs::path(MountSearch::found);
}

}  // namespace eulerstack::cli
