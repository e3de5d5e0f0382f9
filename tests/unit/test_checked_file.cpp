// The checked open of untrusted files: what is refused before it is opened, and the size bound.

#include <sys/stat.h>

#include <fstream>

#include "eulerstack/checked_file.hpp"
#include "support.hpp"

using eulerstack::CheckedFile;
using eulerstack::FileKind;

namespace {

std::string refusal(const std::filesystem::path& path, std::uint64_t limit, FileKind kind = FileKind::RegularOnly) {
  try {
    eulerstack::read_checked_file(path, limit, kind);
  } catch (const eulerstack::Error& e) {
    return e.first().id;
  }
  return "";
}

}  // namespace

TEST_CASE("a regular file is read whole within its limit and refused past it") {
  test::TempDir dir;
  const auto file = dir.path() / "f";
  std::ofstream(file) << "12345";
  CHECK(eulerstack::read_checked_file(file, 5) == "12345");
  CHECK(refusal(file, 4) == "io.file_too_large");
  CheckedFile opened(file, 5);
  char two[2];
  opened.read_at(3, two, 2);
  CHECK(std::string(two, 2) == "45");
  CHECK_THROWS_AS(opened.read_at(4, two, 2), eulerstack::Error);  // past the end
}

TEST_CASE("a FIFO is refused without being opened, unless a stream is allowed") {
  test::TempDir dir;
  const auto fifo = dir.path() / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(refusal(fifo, 100) == "io.not_regular_file");  // opening it for reading would block
  CHECK(eulerstack::read_checked_file(fifo, 100, FileKind::StreamAllowed).empty());  // no writer: at its end at once
  CHECK(refusal(dir.path(), 100, FileKind::StreamAllowed) == "io.not_regular_file");
  CHECK(refusal(dir.path() / "missing", 100) == "io.cannot_read_because");
}

TEST_CASE("an endless device is read only to its limit") {
  CHECK(refusal("/dev/zero", 1000) == "io.not_regular_file");
  CHECK(refusal("/dev/zero", 1000, FileKind::StreamAllowed) == "io.file_too_large");
}
