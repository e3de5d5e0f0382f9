#include "input_limits.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "eulerstack/checked_file.hpp"
#include <yaml-cpp/anchor.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

namespace eulerstack::spec {
namespace {

[[noreturn]] void fail(const std::string& id, MessageArgs args, SourceLocation where) {
  throw Error(make_error("ValidationError", id, std::move(args), std::move(where)));
}

SourceLocation location(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null()) return {file, 0, 0};
  return {file, mark.line + 1, mark.column + 1};
}

// ------------------------------------------------------------------ characters

// YAML 1.2's c-printable set: what a YAML stream may contain at all.
bool yaml_printable(char32_t c) {
  return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0x7E) || c == 0x85 || (c >= 0xA0 && c <= 0xD7FF) ||
         (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

// Decodes one UTF-8 sequence at text[i]; 0 on an invalid, overlong or surrogate one.
std::size_t decode_utf8(std::string_view text, std::size_t i, char32_t& out) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char lead = byte(0);
  std::size_t length;
  char32_t min;
  if (lead < 0x80) {
    out = lead;
    return 1;
  } else if ((lead >> 5) == 0x6) {
    length = 2, min = 0x80, out = lead & 0x1F;
  } else if ((lead >> 4) == 0xE) {
    length = 3, min = 0x800, out = lead & 0x0F;
  } else if ((lead >> 3) == 0x1E) {
    length = 4, min = 0x10000, out = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(k) >> 6) != 0x2) return 0;
    out = (out << 6) | (byte(k) & 0x3F);
  }
  if (out < min || out > 0x10FFFF || (out >= 0xD800 && out <= 0xDFFF)) return 0;
  return length;
}

void check_characters(std::string_view text, const std::string& file) {
  int line = 1;
  int column = 1;
  for (std::size_t i = 0; i < text.size();) {
    char32_t c = 0;
    const std::size_t length = decode_utf8(text, i, c);
    if (length == 0) fail("spec.not_utf8", {}, {file, line, column});
    if (!yaml_printable(c)) fail("spec.control_character", {{"code", fmt::format("U+{:04X}", static_cast<std::uint32_t>(c))}}, {file, line, column});
    i += length;
    if (c == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
}

// ------------------------------------------------------------------ the event pass

std::size_t decimal_digits(std::uint64_t n) {
  std::size_t digits = 1;
  while (n >= 10) n /= 10, ++digits;
  return digits;
}

// Follows the YAML events the way the document converter will walk the tree,
// and adds up what it will cost: every node (aliases expanded: an alias costs
// what its anchored node cost), the bytes of every scalar, and the length of
// the path ("a.b[3]") the converter records for every node. An alias's cost is
// known from its anchor's totals, so a bomb is refused after reading it once.
class InputBudget final : public YAML::EventHandler {
 public:
  InputBudget(const std::string& file, const LoadLimits& limits) : file_(file), limits_(limits) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor, ""); }

  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string& value) override {
    if (value.size() > limits_.max_scalar_bytes)
      fail("spec.scalar_too_long",
           {{"bytes", std::to_string(value.size())}, {"limit", std::to_string(limits_.max_scalar_bytes)}},
           location(file_, mark));
    leaf(mark, anchor, value);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const std::uint64_t path = place(mark, 0);
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      // An alias of a node still open nests without end.
      if (open_anchors_.count(anchor))
        fail("spec.too_deep", {{"limit", std::to_string(limits_.max_depth)}}, location(file_, mark));
      return;  // an undefined anchor: the parser reports it
    }
    const Cost& c = it->second;
    if (frames_.size() + c.height > limits_.max_depth)
      fail("spec.too_deep", {{"limit", std::to_string(limits_.max_depth)}}, location(file_, mark));
    add(mark, c.nodes, c.scalar_bytes, c.relative_path_bytes + c.nodes * path);
    note_height(c.height);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor, false);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor, true);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Totals {
    std::uint64_t nodes = 0;
    std::uint64_t scalar_bytes = 0;
    std::uint64_t path_bytes = 0;
  };
  struct Cost {  // of one anchored node and everything under it
    std::uint64_t nodes;
    std::uint64_t scalar_bytes;
    std::uint64_t relative_path_bytes;  // its nodes' paths, less the anchored node's path each
    std::size_t height;                 // 0 for a scalar
  };
  struct Frame {
    bool map;
    std::uint64_t path;           // length of this collection's own path
    YAML::anchor_t anchor;
    Totals at_start;              // before this collection's node was counted
    std::size_t height = 0;
    std::uint64_t index = 0;      // sequences: the next item's index
    bool next_is_key = true;      // mappings
    std::uint64_t key_length = 0;  // mappings: the key of the value that comes next
  };

  // Where the next node sits: the length of the path the converter records for it.
  // Keys are not recorded; their cost is their bytes.
  std::uint64_t place(const YAML::Mark& mark, std::uint64_t scalar_length) {
    if (frames_.size() > limits_.max_depth)
      fail("spec.too_deep", {{"limit", std::to_string(limits_.max_depth)}}, location(file_, mark));
    if (frames_.empty()) return 0;
    Frame& parent = frames_.back();
    if (!parent.map) return parent.path + 2 + decimal_digits(parent.index++);
    if (parent.next_is_key) {
      parent.next_is_key = false;
      parent.key_length = scalar_length;
      return parent.path;
    }
    parent.next_is_key = true;
    return parent.path + (parent.path == 0 ? 0 : 1) + parent.key_length;
  }

  void add(const YAML::Mark& mark, std::uint64_t nodes, std::uint64_t scalar_bytes, std::uint64_t path_bytes) {
    total_.nodes += nodes;
    total_.scalar_bytes += scalar_bytes;
    total_.path_bytes += path_bytes;
    if (total_.nodes > limits_.max_nodes)
      fail("spec.too_many_nodes", {{"limit", std::to_string(limits_.max_nodes)}}, location(file_, mark));
    if (total_.scalar_bytes + total_.path_bytes > limits_.max_expanded_bytes)
      fail("spec.too_large_expanded", {{"limit", std::to_string(limits_.max_expanded_bytes)}}, location(file_, mark));
  }

  void note_height(std::size_t child_height) {
    if (!frames_.empty()) frames_.back().height = std::max(frames_.back().height, child_height + 1);
  }

  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor, const std::string& value) {
    const std::uint64_t path = place(mark, value.size());
    add(mark, 1, value.size(), path);
    if (anchor != YAML::NullAnchor) anchors_[anchor] = Cost{1, value.size(), 0, 0};
    note_height(0);
  }

  void open(const YAML::Mark& mark, YAML::anchor_t anchor, bool map) {
    const std::uint64_t path = place(mark, 0);
    const Totals before = total_;
    add(mark, 1, 0, path);
    frames_.push_back(Frame{map, path, anchor, before});
    if (anchor != YAML::NullAnchor) open_anchors_.insert(anchor);
  }

  void close() {
    const Frame frame = frames_.back();
    frames_.pop_back();
    if (frame.anchor != YAML::NullAnchor) {
      const std::uint64_t nodes = total_.nodes - frame.at_start.nodes;
      anchors_[frame.anchor] = Cost{nodes, total_.scalar_bytes - frame.at_start.scalar_bytes,
                                    total_.path_bytes - frame.at_start.path_bytes - nodes * frame.path, frame.height};
      open_anchors_.erase(frame.anchor);
    }
    note_height(frame.height);
  }

  const std::string& file_;
  const LoadLimits& limits_;
  Totals total_;
  std::vector<Frame> frames_;
  std::unordered_map<YAML::anchor_t, Cost> anchors_;
  std::unordered_set<YAML::anchor_t> open_anchors_;
};

// Notes where a document after the first begins; its content is not looked at.
class SecondDocument final : public YAML::EventHandler {
 public:
  explicit SecondDocument(const std::string& file) : file_(file) {}

  // Refused as soon as it begins: what follows may not even parse.
  void OnDocumentStart(const YAML::Mark& mark) override { fail("spec.multiple_documents", {}, location(file_, mark)); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  const std::string& file_;
};

}  // namespace

std::string read_spec_bytes(const std::filesystem::path& path, const LoadLimits& limits) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw Error(make_error("IOError", "io.is_directory", {{"path", path.string()}}));
  auto too_large = [&](std::uintmax_t bytes) {
    fail("spec.too_large", {{"bytes", std::to_string(bytes)}, {"limit", std::to_string(limits.max_bytes)}},
         {path.string(), 0, 0});
  };
  // A spec may come from a pipe or a device the user names; it is read bounded all the same.
  std::optional<CheckedFile> in;
  try {
    in.emplace(path, limits.max_bytes, FileKind::StreamAllowed);
  } catch (const Error& e) {
    if (e.first().id == "io.file_too_large") too_large(std::stoull(e.first().args.at("bytes")));  // before reading any of it
    throw;
  }
  bool more = false;
  std::string text = in->read_up_to(limits.max_bytes, more);
  if (more) too_large(text.size() + 1);  // grew, or a pipe or device
  return text;
}

std::string with_lf_line_breaks(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\r') {
      out += text[i];
    } else if (i + 1 >= text.size() || text[i + 1] != '\n') {
      out += '\n';
    }
  }
  return out;
}

void check_spec_input(std::string_view raw, const std::string& file, const LoadLimits& limits) {
  if (raw.size() > limits.max_bytes)
    fail("spec.too_large", {{"bytes", std::to_string(raw.size())}, {"limit", std::to_string(limits.max_bytes)}},
         {file, 0, 0});
  const std::string text = with_lf_line_breaks(raw);
  check_characters(text, file);
  std::istringstream stream{text};
  InputBudget budget(file, limits);
  try {
    YAML::Parser parser(stream);
    parser.HandleNextDocument(budget);
    // YAML::Load would keep the first document and drop the rest unread.
    SecondDocument second(file);
    parser.HandleNextDocument(second);
  } catch (const YAML::DeepRecursion& e) {
    fail("spec.too_deep", {{"limit", std::to_string(limits.max_depth)}}, location(file, e.mark));
  } catch (const YAML::Exception&) {
    // A syntax error: building the tree meets it within what was counted so far.
  }
}

}  // namespace eulerstack::spec
