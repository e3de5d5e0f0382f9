#include "terminal_safe_stream.hpp"

#include <cerrno>
#include <cstdio>
#include <iostream>
#include <sstream>

namespace eulerstack::cli {
namespace {

std::string hex_escape(const char* prefix, unsigned value) {
  char text[16];
  std::snprintf(text, sizeof text, "%s%02x", prefix, value);
  return text;
}

int continuation_bytes(unsigned char lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return 1;
  if (lead >= 0xE0 && lead <= 0xEF) return 2;
  if (lead >= 0xF0 && lead <= 0xF4) return 3;
  return -1;  // 0x80-0xC1, 0xF5-0xFF never start a character
}

}  // namespace

bool TerminalSafeBuffer::failed(bool ok) {
  if (!ok && first_error_ == 0) first_error_ = errno ? errno : EIO;
  return ok;
}

bool TerminalSafeBuffer::emit(const std::string& text) {
  errno = 0;
  return failed(out_->sputn(text.data(), static_cast<std::streamsize>(text.size())) ==
                static_cast<std::streamsize>(text.size()));
}

bool TerminalSafeBuffer::emit_byte(unsigned char c) {
  errno = 0;
  return failed(out_->sputc(static_cast<char>(c)) != traits_type::eof());
}

bool TerminalSafeBuffer::put(unsigned char c) {
  if (after_c2_) {
    after_c2_ = false;
    if (c >= 0x80 && c <= 0x9F) return emit(hex_escape("\\u00", c));  // a C1 control
    if (!emit_byte(0xC2)) return false;
    if (c >= 0xA0 && c <= 0xBF) return emit_byte(c);
    // the 0xC2 was not followed by a continuation byte: it is not UTF-8 either
  }
  if (continuation_ > 0) {
    if (c >= 0x80 && c <= 0xBF) {
      --continuation_;
      return emit_byte(c);
    }
    continuation_ = 0;  // a cut sequence; the byte starts anew
  }
  if (c < 0x80) {
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) return emit(hex_escape("\\x", c));
    return emit_byte(c);
  }
  if (c == 0xC2) {
    after_c2_ = true;
    return true;
  }
  const int more = continuation_bytes(c);
  if (more < 0) return emit(hex_escape("\\x", c));
  continuation_ = more;
  return emit_byte(c);
}

TerminalSafeBuffer::int_type TerminalSafeBuffer::overflow(int_type c) {
  if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
  return put(static_cast<unsigned char>(traits_type::to_char_type(c))) ? c : traits_type::eof();
}

std::streamsize TerminalSafeBuffer::xsputn(const char* s, std::streamsize n) {
  for (std::streamsize i = 0; i < n; ++i)
    if (!put(static_cast<unsigned char>(s[i]))) return i;
  return n;
}

int TerminalSafeBuffer::sync() {
  if (after_c2_) {  // a lone 0xC2 at a flush: hold it no longer
    after_c2_ = false;
    if (!emit(hex_escape("\\x", 0xC2))) return -1;
  }
  errno = 0;
  return failed(out_->pubsync() == 0) ? 0 : -1;
}

TerminalSafeStreams::TerminalSafeStreams()
    : cout_original_(std::cout.rdbuf()),
      cerr_original_(std::cerr.rdbuf()),
      cout_safe_(cout_original_),
      cerr_safe_(cerr_original_) {
  std::cout.rdbuf(&cout_safe_);
  std::cerr.rdbuf(&cerr_safe_);
}

TerminalSafeStreams::~TerminalSafeStreams() {
  std::cout.flush();
  std::cerr.flush();
  std::cout.rdbuf(cout_original_);
  std::cerr.rdbuf(cerr_original_);
}

std::string terminal_safe(const std::string& text) {
  std::ostringstream out;
  TerminalSafeBuffer safe(out.rdbuf());
  std::ostream stream(&safe);
  stream << text;
  stream.flush();
  return out.str();
}

}  // namespace eulerstack::cli
