#pragma once
// Checked 64-bit arithmetic for parameter-count formulas (BlockSchema::count_params).
// A formula written in Count values cannot wrap: an overflow, or a division by
// zero, throws CountOverflow, and the front end reports it as spec.param_overflow
// naming the block and its place in the YAML.
//
//   eulerstack::Count d = ctx.model_int("d_model");
//   return (4 * d * d).value();
//
// Torch-free and header-only, so plugin descriptors can use it freely.

#include <cstdint>
#include <stdexcept>
#include <string>

namespace eulerstack {

// Derives from std::overflow_error so hosts catch it by a type every library shares.
class CountOverflow : public std::overflow_error {
 public:
  using std::overflow_error::overflow_error;
};

class Count {
 public:
  constexpr Count(std::int64_t value = 0) : value_(value) {}  // NOLINT: implicit, so `2 * d` reads naturally

  constexpr std::int64_t value() const { return value_; }

  friend Count operator+(Count a, Count b) {
    std::int64_t out;
    if (__builtin_add_overflow(a.value_, b.value_, &out)) overflow(a, "+", b);
    return out;
  }
  friend Count operator-(Count a, Count b) {
    std::int64_t out;
    if (__builtin_sub_overflow(a.value_, b.value_, &out)) overflow(a, "-", b);
    return out;
  }
  friend Count operator*(Count a, Count b) {
    std::int64_t out;
    if (__builtin_mul_overflow(a.value_, b.value_, &out)) overflow(a, "*", b);
    return out;
  }
  friend Count operator/(Count a, Count b) {
    if (b.value_ == 0) throw CountOverflow(std::to_string(a.value_) + " / 0 divides by zero");
    if (b.value_ == -1 && a.value_ == INT64_MIN) overflow(a, "/", b);
    return a.value_ / b.value_;
  }
  Count& operator+=(Count b) { return *this = *this + b; }
  Count& operator-=(Count b) { return *this = *this - b; }
  Count& operator*=(Count b) { return *this = *this * b; }

  friend bool operator==(Count a, Count b) { return a.value_ == b.value_; }
  friend bool operator!=(Count a, Count b) { return a.value_ != b.value_; }
  friend bool operator<(Count a, Count b) { return a.value_ < b.value_; }

 private:
  [[noreturn]] static void overflow(Count a, const char* op, Count b) {
    throw CountOverflow(std::to_string(a.value_) + " " + op + " " + std::to_string(b.value_) + " overflows 64 bits");
  }

  std::int64_t value_;
};

}  // namespace eulerstack
