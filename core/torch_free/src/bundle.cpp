#include "eulerstack/bundle.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <memory>
#include <set>
#include <system_error>

#include <fmt/format.h>

#include "eulerstack/bounded_json.hpp"
#include "eulerstack/checked_file.hpp"
#include "eulerstack/plugin_host.hpp"

namespace fs = std::filesystem;

namespace eulerstack {
namespace {

constexpr int kMaxBundleDepth = 3;  // as deep as the plugin scanner looks
// A manifest lists a few files per plugin: 1 MiB holds thousands of plugins.
constexpr std::uint64_t kMaxManifestBytes = 1u << 20;
constexpr std::size_t kMaxManifestDepth = 8;
// Plugin libraries and twins are hashed whole, however large.
constexpr std::uint64_t kAnySize = ~std::uint64_t{0};

Diagnostic bad_manifest(const fs::path& file, std::string reason) {
  return make_error("PluginError", "bundle.bad_manifest", {{"file", file.string()}, {"reason", std::move(reason)}});
}

std::string required_string(const Json& object, const char* key, const fs::path& file, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string() || it->get<std::string>().empty())
    throw Error(bad_manifest(file, fmt::format("{} needs a non-empty string '{}'", where, key)));
  return it->get<std::string>();
}

bool is_hex_digest(const std::string& text) {
  if (text.size() != 64) return false;
  for (char c : text)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// A manifest path must stay inside the bundle directory.
bool is_inside(const std::string& path) {
  const fs::path p(path);
  if (p.empty() || p.is_absolute()) return false;
  for (const auto& part : p.lexically_normal())
    if (part == "..") return false;
  return true;
}

const BundlePlugin* plugin_listing(const BundleManifest& manifest, const std::string& relative) {
  for (const auto& plugin : manifest.plugins)
    if (!plugin.files.empty() && plugin.files.front().path == relative) return &plugin;
  return nullptr;
}

std::optional<Diagnostic> check_file(const BundleManifest& manifest, const BundlePlugin& plugin,
                                     const BundleFile& listed) {
  const fs::path file = manifest.dir() / listed.path;
  MessageArgs args{{"path", file.string()}, {"manifest", manifest.file.string()}, {"plugin", plugin.name}};
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return make_error("PluginError", "plugin.bundle_file_missing", args);
  std::string actual;
  try {
    actual = sha256_of_file(file);
  } catch (const Error& e) {
    return e.first();
  }
  if (actual == listed.sha256) return std::nullopt;
  args["expected"] = listed.sha256;
  args["actual"] = actual;
  return make_error("PluginError", "plugin.checksum_mismatch", args);
}

}  // namespace

std::string sha256_of_file(const fs::path& file) {
  CheckedFile in(file, kAnySize);
  return sha256_of_open_file(in);
}

namespace {

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
      throw std::runtime_error("SHA-256 is unavailable (OpenSSL)");
  }
  void add(const void* data, std::size_t size) { EVP_DigestUpdate(ctx_.get(), data, size); }
  std::string hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest;
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest.data(), &length);
    std::string out;
    for (unsigned int i = 0; i < length; ++i) out += fmt::format("{:02x}", digest[i]);
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

}  // namespace

std::string sha256_of_bytes(std::string_view bytes) {
  Sha256 sha;
  sha.add(bytes.data(), bytes.size());
  return sha.hex();
}

std::string sha256_of_open_file(const CheckedFile& file) {
  Sha256 sha;
  std::array<char, 1 << 16> buffer;
  // pread from offset 0: the descriptor stays usable for loading what was hashed.
  for (std::uint64_t offset = 0; offset < file.size();) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), file.size() - offset));
    file.read_at(offset, buffer.data(), n);
    sha.add(buffer.data(), n);
    offset += n;
  }
  return sha.hex();
}

BundleManifest read_manifest(const fs::path& file) {
  std::string text;
  try {
    text = read_checked_file(file, kMaxManifestBytes);
  } catch (const Error& e) {
    Diagnostic refused = e.first();  // not a regular file, or over the limit: no plugin of the bundle loads
    refused.category = "PluginError";
    throw Error(std::move(refused));
  }
  std::string why;
  auto parsed = parse_bounded_json(text, kMaxManifestDepth, why);
  if (!parsed) throw Error(bad_manifest(file, "not JSON: " + why));
  const Json& json = *parsed;
  if (!json.is_object()) throw Error(bad_manifest(file, "not a JSON object"));
  // Typed before converting: a float like 1e64 is no int (found by fuzz_bundle_manifest).
  const auto format = json.find("format");
  if (format == json.end() || !format->is_number_integer() || format->get<std::int64_t>() != kBundleManifestFormat)
    throw Error(bad_manifest(file, fmt::format("'format' must be {}", kBundleManifestFormat)));
  BundleManifest manifest;
  manifest.file = file;
  manifest.name = required_string(json, "name", file, "the bundle");
  manifest.version = required_string(json, "version", file, "the bundle");
  if (const auto description = json.find("description"); description != json.end()) {
    if (!description->is_string()) throw Error(bad_manifest(file, "'description' must be a string"));
    manifest.description = description->get<std::string>();
  }
  auto plugins = json.find("plugins");
  if (plugins == json.end() || !plugins->is_array()) throw Error(bad_manifest(file, "'plugins' must be a list"));
  std::set<std::string> seen;
  for (const auto& entry : *plugins) {
    if (!entry.is_object()) throw Error(bad_manifest(file, "each plugin must be an object"));
    BundlePlugin plugin;
    plugin.name = required_string(entry, "name", file, "a plugin");
    const std::string where = "plugin '" + plugin.name + "'";
    plugin.version = required_string(entry, "version", file, where);
    auto files = entry.find("files");
    if (files == entry.end() || !files->is_array() || files->empty())
      throw Error(bad_manifest(file, where + " needs a non-empty list 'files'"));
    for (const auto& f : *files) {
      if (!f.is_object()) throw Error(bad_manifest(file, where + ": each file must be an object"));
      BundleFile listed{required_string(f, "path", file, where), required_string(f, "sha256", file, where)};
      if (!is_inside(listed.path))
        throw Error(bad_manifest(file, where + ": path '" + listed.path + "' leaves the bundle directory"));
      if (!is_hex_digest(listed.sha256))
        throw Error(bad_manifest(file, where + ": '" + listed.path + "' needs a SHA-256 of 64 lowercase hex digits"));
      if (!seen.insert(listed.path).second)
        throw Error(bad_manifest(file, "'" + listed.path + "' is listed twice"));
      plugin.files.push_back(std::move(listed));
    }
    manifest.plugins.push_back(std::move(plugin));
  }
  return manifest;
}

Json manifest_json(const BundleManifest& manifest) {
  Json plugins = Json::array();
  for (const auto& p : manifest.plugins) {
    Json files = Json::array();
    for (const auto& f : p.files) files.push_back({{"path", f.path}, {"sha256", f.sha256}});
    plugins.push_back({{"name", p.name}, {"version", p.version}, {"files", files}});
  }
  return {{"format", kBundleManifestFormat}, {"name", manifest.name}, {"version", manifest.version},
          {"description", manifest.description}, {"plugins", plugins}};
}

std::optional<fs::path> governing_manifest(const fs::path& file, const fs::path& root) {
  const fs::path top = root.lexically_normal();
  fs::path dir = file.parent_path().lexically_normal();
  for (int level = 0; level <= kMaxBundleDepth && !dir.empty(); ++level) {
    std::error_code ec;
    // Anything by that name governs (a FIFO too: reading it refuses the bundle, never skips the check).
    const auto status = fs::status(dir / kBundleManifestName, ec);
    if (fs::exists(status) && !fs::is_directory(status)) return dir / kBundleManifestName;
    if (dir == top || dir == dir.parent_path()) break;
    dir = dir.parent_path();
  }
  return std::nullopt;
}

std::vector<Diagnostic> check_bundled_plugin(const BundleManifest& manifest, const fs::path& file) {
  const std::string relative = file.lexically_normal().lexically_relative(manifest.dir().lexically_normal()).generic_string();
  const BundlePlugin* plugin = plugin_listing(manifest, relative);
  if (!plugin)
    return {make_error("PluginError", "plugin.not_in_manifest",
                       {{"path", file.string()}, {"manifest", manifest.file.string()}, {"bundle", manifest.name}})};
  std::vector<Diagnostic> problems;
  for (const auto& listed : plugin->files)
    if (auto problem = check_file(manifest, *plugin, listed)) problems.push_back(std::move(*problem));
  return problems;
}

std::vector<BundleFileCheck> verify_bundle(const BundleManifest& manifest) {
  std::vector<BundleFileCheck> checks;
  std::set<std::string> listed;
  for (const auto& plugin : manifest.plugins)
    for (const auto& f : plugin.files) {
      listed.insert(f.path);
      checks.push_back({manifest.dir() / f.path, plugin.name, check_file(manifest, plugin, f)});
    }
  for (const auto& file : plugin_files_in(manifest.dir())) {
    const auto governing = governing_manifest(file, manifest.dir());
    const std::string relative = file.lexically_relative(manifest.dir()).generic_string();
    if (governing && *governing == manifest.file && !listed.count(relative))
      checks.push_back({file, "", check_bundled_plugin(manifest, file).front()});
  }
  return checks;
}

std::vector<BundleManifest> find_bundles(const std::vector<SearchDir>& search_path) {
  std::vector<BundleManifest> bundles;
  std::set<fs::path> seen;
  auto consider = [&](const fs::path& file) {
    std::error_code ec;
    const fs::path key = fs::weakly_canonical(file, ec);
    if (!fs::is_regular_file(file, ec) || !seen.insert(key).second) return;
    try {
      bundles.push_back(read_manifest(file));
    } catch (const Error&) {
    }
  };
  for (const auto& entry : search_path) {
    std::vector<fs::path> candidates{entry.dir / kBundleManifestName};
    std::error_code ec;
    auto options = fs::directory_options::skip_permission_denied;
    for (fs::recursive_directory_iterator it(entry.dir, options, ec), end; !ec && it != end; it.increment(ec)) {
      if (!it->is_directory(ec)) continue;
      const auto name = it->path().filename().string();
      if (name.empty() || name[0] == '.' || it.depth() >= kMaxBundleDepth - 1) it.disable_recursion_pending();
      if (!name.empty() && name[0] != '.') candidates.push_back(it->path() / kBundleManifestName);
    }
    std::sort(candidates.begin() + 1, candidates.end());
    for (const auto& file : candidates) consider(file);
  }
  return bundles;
}

}  // namespace eulerstack
