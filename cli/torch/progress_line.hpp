#pragma once
// One self-overwriting status line on stderr (bytes written, rate, ETA) while
// a large export runs; silent when stderr is not a terminal or the work is small.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace eulerstack::cli {

struct ProgressFigures {
  std::string done, total, rate;  // human-readable byte counts ("1.2 GB")
  long eta_seconds = 0;
};

class ProgressLine {
 public:
  using Formatter = std::function<std::string(const ProgressFigures&)>;
  static constexpr std::uint64_t kMinimumBytes = 64u << 20;

  ProgressLine(std::uint64_t total_bytes, Formatter format);
  void advance(std::uint64_t bytes);

 private:
  using Clock = std::chrono::steady_clock;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  bool shown_;
  Formatter format_;
  Clock::time_point start_;
  Clock::time_point last_;
};

// 1000-based units, as HF's --max-shard-size: "1.5 GB".
std::string human_bytes(double bytes);

}  // namespace eulerstack::cli
