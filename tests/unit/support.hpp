#pragma once
// Small helpers shared by the unit tests: scoped environment variables,
// scratch directories, and the fixture / builtin plugin locations.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "eulerstack/diagnostics.hpp"
#include "test_paths.hpp"

namespace test {

namespace fs = std::filesystem;

// Sets (or unsets, with nullopt) one environment variable and restores it.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, std::optional<std::string> value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) saved_ = old;
    if (value) ::setenv(name_.c_str(), value->c_str(), 1);
    else ::unsetenv(name_.c_str());
  }
  ~ScopedEnv() {
    if (saved_) ::setenv(name_.c_str(), saved_->c_str(), 1);
    else ::unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> saved_;
};

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "eulerstack-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  // Creates an (empty) file, and its parent folders.
  fs::path touch(const fs::path& relative) const {
    fs::path file = path_ / relative;
    fs::create_directories(file.parent_path());
    std::ofstream(file) << "";
    return file;
  }
  fs::path mkdir(const fs::path& relative) const {
    fs::create_directories(path_ / relative);
    return path_ / relative;
  }

 private:
  fs::path path_;
};

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

inline fs::path fixture_dir(const std::string& name) { return fs::path(EULERSTACK_TEST_FIXTURE_DIR) / name; }
inline fs::path builtin_plugin_dir() { return fs::path(EULERSTACK_TEST_BUILTIN_PLUGIN_DIR); }

inline std::vector<fs::path> builtin_plugin_files() {
  std::vector<fs::path> files;
  std::string list = EULERSTACK_TEST_BUILTIN_PLUGIN_FILES;
  std::size_t start = 0;
  while (start < list.size()) {
    std::size_t end = list.find(':', start);
    if (end == std::string::npos) end = list.size();
    if (end > start) files.emplace_back(list.substr(start, end - start));
    start = end + 1;
  }
  return files;
}

}  // namespace test
