// eulerstack::Count, the checked arithmetic of plugins' parameter-count formulas.

#include <cstdint>
#include <limits>

#include <doctest/doctest.h>

#include "eulerstack/checked_count.hpp"

using eulerstack::Count;
using eulerstack::CountOverflow;

namespace {
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
}  // namespace

TEST_CASE("Count computes like int64 while the result fits") {
  const Count d = 4096;
  CHECK((4 * d * d).value() == 4 * 4096 * 4096);
  CHECK((d + 1 - 2).value() == 4095);
  CHECK((d / 64).value() == 64);
  Count total = 0;
  total += d * d;
  total -= d;
  total *= 2;
  CHECK(total.value() == 2 * (4096 * 4096 - 4096));
  CHECK((Count(kMax) - kMax).value() == 0);
  CHECK((Count(kMin) / 1).value() == kMin);
}

TEST_CASE("Count throws CountOverflow, an std::overflow_error, instead of wrapping") {
  CHECK_THROWS_AS(Count(kMax) + 1, CountOverflow);
  CHECK_THROWS_AS(Count(kMin) - 1, CountOverflow);
  CHECK_THROWS_AS(Count(std::int64_t{1} << 32) * (std::int64_t{1} << 31), CountOverflow);
  CHECK_THROWS_AS(Count(kMin) / -1, CountOverflow);
  CHECK_THROWS_AS(Count(7) / 0, std::overflow_error);
  Count c = kMax;
  CHECK_THROWS_AS(c += 1, CountOverflow);
  CHECK(c.value() == kMax);  // unchanged after the throw
}

TEST_CASE("CountOverflow says which operation overflowed") {
  CHECK_THROWS_WITH(Count(std::int64_t{1} << 40) * (std::int64_t{1} << 30),
                    "1099511627776 * 1073741824 overflows 64 bits");
  CHECK_THROWS_WITH(Count(5) / 0, "5 / 0 divides by zero");
}
