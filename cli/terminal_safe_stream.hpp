#pragma once
// What the CLI prints comes partly from others: plugin names and descriptions,
// file names, spec values. A stream buffer in front of stdout and stderr keeps
// their bytes from acting on the terminal: control characters other than
// newline and tab, DEL, UTF-8-encoded C1 controls and bytes that are not
// UTF-8 are printed as visible escapes (\x1b, \u009b, \xff). JSON output is
// unchanged by it: its strings arrive escaped, and a C1 control becomes the
// JSON escape of itself.

#include <streambuf>
#include <string>

namespace eulerstack::cli {

class TerminalSafeBuffer : public std::streambuf {
 public:
  explicit TerminalSafeBuffer(std::streambuf* out) : out_(out) {}

  // errno of the first write that failed; 0 when none did.
  int first_error() const { return first_error_; }

 protected:
  int_type overflow(int_type c) override;
  std::streamsize xsputn(const char* s, std::streamsize n) override;
  int sync() override;

 private:
  bool put(unsigned char c);
  bool emit(const std::string& text);
  bool emit_byte(unsigned char c);

  bool failed(bool ok);

  std::streambuf* out_;
  int first_error_ = 0;
  int continuation_ = 0;    // UTF-8 continuation bytes still expected
  bool after_c2_ = false;   // a held 0xC2 lead byte: a C1 control may follow
};

// Puts the buffers in front of std::cout and std::cerr for its lifetime.
class TerminalSafeStreams {
 public:
  TerminalSafeStreams();
  ~TerminalSafeStreams();
  TerminalSafeStreams(const TerminalSafeStreams&) = delete;
  TerminalSafeStreams& operator=(const TerminalSafeStreams&) = delete;

  int stdout_error() const { return cout_safe_.first_error(); }

 private:
  std::streambuf* cout_original_;
  std::streambuf* cerr_original_;
  TerminalSafeBuffer cout_safe_;
  TerminalSafeBuffer cerr_safe_;
};

// `text` as TerminalSafeBuffer prints it.
std::string terminal_safe(const std::string& text);

}  // namespace eulerstack::cli
