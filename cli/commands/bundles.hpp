#pragma once
// eulerstack plugins manifest DIR --name NAME --version VERSION [--description TEXT]
// eulerstack plugins verify DIR
// and the bundles part of the `plugins` listing.

#include <filesystem>
#include <string>

#include "../session.hpp"
#include "eulerstack/bundle.hpp"

namespace eulerstack::cli {

struct ManifestRequest {
  std::filesystem::path dir;
  std::string name;
  std::string version;
  std::string description;
};

// Loads every plugin library in the directory (nested bundles excepted),
// hashes the files each one ships and writes <dir>/bundle.json atomically.
int write_bundle_manifest(Session& session, const ManifestRequest& request);

// Checks a bundle directory (or its bundle.json) against its manifest, file by file.
int verify_bundle_dir(Session& session, const std::filesystem::path& dir, bool json);

Json bundles_json(const std::vector<BundleManifest>& bundles);
void print_bundles(const Session& session, const std::vector<BundleManifest>& bundles);

}  // namespace eulerstack::cli
