#include "svg_text.hpp"

#include <cmath>

#include <fmt/format.h>

namespace eulerstack::cli::picture {

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double value) {
  const double rounded = std::round(value * 10.0) / 10.0;
  if (rounded == std::floor(rounded)) return fmt::format("{}", static_cast<long long>(rounded));
  return fmt::format("{:.1f}", rounded);
}

std::string fit(const std::string& text, double width, double font_px) {
  const double budget = width / (0.6 * font_px);  // average advance of a sans-serif glyph
  double used = 0;
  std::size_t last_start = 0;  // the last glyph that fitted: dropped to make room for the ellipsis
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const std::size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    const double advance = len >= 3 && c >= 0xE3 ? 2.0 : 1.0;  // CJK, kana, hangul
    if (used + advance > budget) return text.substr(0, last_start) + "…";
    last_start = i;
    used += advance;
    i += len;
  }
  return text;
}

}  // namespace eulerstack::cli::picture
