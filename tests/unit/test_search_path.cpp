// Where the host looks for plugins: plugin_search_path and plugin_files_in.

#include <doctest/doctest.h>

#include "eulerstack/plugin_host.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using eulerstack::PluginSearchOptions;
using eulerstack::SearchDir;

namespace {

std::vector<std::pair<std::string, std::string>> flat(const std::vector<SearchDir>& path) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& entry : path) out.emplace_back(entry.dir.string(), entry.origin);
  return out;
}

// <tmp>/bin (the "executable" directory) and <tmp>/plugins, which is where the
// build-tree default ("../plugins" from the executable) points.
struct FakeInstall {
  test::TempDir root;
  fs::path bin = root.mkdir("bin");
  fs::path plugins = fs::canonical(root.mkdir("plugins"));
};

using Flat = std::vector<std::pair<std::string, std::string>>;

}  // namespace

TEST_CASE("search path: --plugin-dir, then EULERSTACK_PLUGIN_PATH, then the defaults") {
  FakeInstall install;
  test::ScopedEnv path("EULERSTACK_PLUGIN_PATH", "/env/one::/env/two:");  // empty entries are skipped
  test::ScopedEnv system("EULERSTACK_PLUGIN_SYSTEM_PATH", std::nullopt);

  PluginSearchOptions options;
  options.plugin_dirs = {"/flag/a", "relative/b"};
  options.executable_dir = install.bin;
  CHECK(flat(eulerstack::plugin_search_path(options)) == Flat{
                                                             {"/flag/a", "--plugin-dir"},
                                                             {"relative/b", "--plugin-dir"},
                                                             {"/env/one", "EULERSTACK_PLUGIN_PATH"},
                                                             {"/env/two", "EULERSTACK_PLUGIN_PATH"},
                                                             {install.plugins.string(), "default"},
                                                         });
}

TEST_CASE("search path: EULERSTACK_PLUGIN_SYSTEM_PATH replaces the defaults") {
  FakeInstall install;
  test::ScopedEnv path("EULERSTACK_PLUGIN_PATH", "/env/one");
  test::ScopedEnv system("EULERSTACK_PLUGIN_SYSTEM_PATH", "/sys/one:/sys/two");

  PluginSearchOptions options;
  options.plugin_dirs = {"/flag/a"};
  options.executable_dir = install.bin;
  CHECK(flat(eulerstack::plugin_search_path(options)) == Flat{
                                                             {"/flag/a", "--plugin-dir"},
                                                             {"/env/one", "EULERSTACK_PLUGIN_PATH"},
                                                             {"/sys/one", "EULERSTACK_PLUGIN_SYSTEM_PATH"},
                                                             {"/sys/two", "EULERSTACK_PLUGIN_SYSTEM_PATH"},
                                                         });
}

TEST_CASE("search path: use_environment=false ignores both variables") {
  FakeInstall install;
  test::ScopedEnv path("EULERSTACK_PLUGIN_PATH", "/env/one");
  test::ScopedEnv system("EULERSTACK_PLUGIN_SYSTEM_PATH", "/sys/one");

  PluginSearchOptions options;
  options.executable_dir = install.bin;
  options.use_environment = false;
  CHECK(flat(eulerstack::plugin_search_path(options)) == Flat{{install.plugins.string(), "default"}});
}

TEST_CASE("search path: defaults only when they exist, never the current directory") {
  test::ScopedEnv path("EULERSTACK_PLUGIN_PATH", std::nullopt);
  test::ScopedEnv system("EULERSTACK_PLUGIN_SYSTEM_PATH", std::nullopt);

  test::TempDir lonely;  // an executable directory with no plugins beside it
  PluginSearchOptions options;
  options.executable_dir = lonely.mkdir("bin");
  CHECK(eulerstack::plugin_search_path(options).empty());

  options.executable_dir.clear();
  CHECK(eulerstack::plugin_search_path(options).empty());
}

TEST_CASE("plugin_files_in: .so files in the directory and its bundle folders, sorted") {
  test::TempDir dir;
  const auto z = dir.touch("z.so");
  const auto m = dir.touch("m.so");
  const auto core = dir.touch("core/libattention.so");
  const auto grouped = dir.touch("extra/mixers/libmamba.so");
  dir.touch("README.txt");
  dir.touch("libold.so.1");
  dir.touch("core/notes.md");
  dir.touch(".hidden/libsecret.so");
  dir.touch("extra/.cache/libstale.so");
  dir.mkdir("folder.so");  // a directory, not a library
  dir.touch("a/b/c/d/e/libdeep.so");  // far below any bundle layout

  CHECK(eulerstack::plugin_files_in(dir.path()) == std::vector<fs::path>{core, grouped, m, z});
}

TEST_CASE("plugin_files_in: a missing or empty directory has no plugins") {
  test::TempDir dir;
  CHECK(eulerstack::plugin_files_in(dir.path()).empty());
  CHECK(eulerstack::plugin_files_in(dir.path() / "missing").empty());
}
