#include "progress_line.hpp"

#include <unistd.h>

#include <cstdio>

namespace eulerstack::cli {

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int unit = 0;
  while (bytes >= 1000.0 && unit < 4) bytes /= 1000.0, ++unit;
  char text[32];
  std::snprintf(text, sizeof text, unit ? "%.1f %s" : "%.0f %s", bytes, units[unit]);
  return text;
}

ProgressLine::ProgressLine(std::uint64_t total_bytes, Formatter format)
    : total_(total_bytes),
      shown_(isatty(STDERR_FILENO) && total_bytes >= kMinimumBytes),
      format_(std::move(format)),
      start_(Clock::now()) {}

void ProgressLine::advance(std::uint64_t bytes) {
  done_ += bytes;
  if (!shown_) return;
  const auto now = Clock::now();
  if (done_ < total_ && now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const double rate = seconds > 0 ? done_ / seconds : 0.0;
  ProgressFigures figures{human_bytes(done_), human_bytes(total_), human_bytes(rate),
                          rate > 0 ? static_cast<long>((total_ - done_) / rate + 0.5) : 0};
  std::fprintf(stderr, "\r%s   ", format_(figures).c_str());
  if (done_ >= total_) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

}  // namespace eulerstack::cli
