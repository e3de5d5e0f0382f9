#pragma once
// Bundles: a directory of plugins plus a manifest, `bundle.json`, naming the
// bundle and listing each plugin with its version and the SHA-256 of every file
// it ships (descriptor library, module library, Python twin). The host checks a
// plugin against the manifest that governs it before opening it, and refuses a
// plugin whose files are missing, unlisted or changed.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eulerstack/diagnostics.hpp"
#include "eulerstack/param_schema.hpp"
#include "eulerstack/registry.hpp"

namespace eulerstack {

inline constexpr const char* kBundleManifestName = "bundle.json";
inline constexpr int kBundleManifestFormat = 1;

struct BundleFile {
  std::string path;    // relative to the manifest's directory, '/'-separated
  std::string sha256;  // lowercase hex
};

struct BundlePlugin {
  std::string name;
  std::string version;
  std::vector<BundleFile> files;  // the descriptor library first
};

struct BundleManifest {
  std::filesystem::path file;  // the manifest itself
  std::string name;
  std::string version;
  std::string description;
  std::vector<BundlePlugin> plugins;

  std::filesystem::path dir() const { return file.parent_path(); }
};

class CheckedFile;

// SHA-256 of a file's bytes, lowercase hex (OpenSSL). Throws Error(IOError):
// a regular file only (checked_file.hpp).
std::string sha256_of_file(const std::filesystem::path& file);
// The same of an opened file, read by offset: what was hashed can then be
// loaded from the same descriptor.
std::string sha256_of_open_file(const CheckedFile& file);
std::string sha256_of_bytes(std::string_view bytes);

// Throws Error(PluginError, bundle.bad_manifest) naming what is wrong; a
// manifest that is not a regular file or is over 1 MiB is refused unread.
BundleManifest read_manifest(const std::filesystem::path& file);
Json manifest_json(const BundleManifest& manifest);

// The manifest that governs a plugin file: the nearest bundle.json in the
// file's directory or above it, never above `root` (the search directory).
std::optional<std::filesystem::path> governing_manifest(const std::filesystem::path& file,
                                                        const std::filesystem::path& root);

// Why `file` (a descriptor library governed by `manifest`) must not be opened:
// unlisted, or one of its plugin's files missing or changed. Empty when sound.
std::vector<Diagnostic> check_bundled_plugin(const BundleManifest& manifest, const std::filesystem::path& file);

// Every file a manifest lists, checked, plus the plugin libraries in its
// directory that it does not list (nested bundles excepted).
struct BundleFileCheck {
  std::filesystem::path file;
  std::string plugin;            // empty for an unlisted library
  std::optional<Diagnostic> problem;
};
std::vector<BundleFileCheck> verify_bundle(const BundleManifest& manifest);

// The manifests on the search path (in each directory and up to three levels
// below it), in search order; unreadable ones are skipped (loading reports them).
std::vector<BundleManifest> find_bundles(const std::vector<SearchDir>& search_path);

}  // namespace eulerstack
