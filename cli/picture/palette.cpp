#include "palette.hpp"

#include <cmath>
#include <cstdint>

#include <fmt/format.h>

namespace eulerstack::cli::picture {
namespace {

constexpr double kMinHueGap = 45.0;
constexpr double kHueStep = 137.508;  // the golden angle: successive steps never cycle back soon

}  // namespace

std::string hsl(double h, double s, double l) {
  const double c = (1 - std::fabs(2 * l - 1)) * s;
  const double hp = std::fmod(h, 360.0) / 60.0;
  const double x = c * (1 - std::fabs(std::fmod(hp, 2.0) - 1));
  double r = 0, g = 0, b = 0;
  if (hp < 1) r = c, g = x;
  else if (hp < 2) r = x, g = c;
  else if (hp < 3) g = c, b = x;
  else if (hp < 4) g = x, b = c;
  else if (hp < 5) r = x, b = c;
  else r = c, b = x;
  const double m = l - c / 2;
  auto byte = [&](double v) { return static_cast<int>(std::lround((v + m) * 255.0)); };
  return fmt::format("#{:02x}{:02x}{:02x}", byte(r), byte(g), byte(b));
}

namespace {

double gap(double a, double b) {
  const double d = std::fabs(a - b);
  return std::min(d, 360.0 - d);
}

}  // namespace

double name_hue(const std::string& name) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : name) h = (h ^ c) * 16777619u;
  return static_cast<double>(h % 3600) / 10.0;
}

Palette::Palette(const std::vector<std::string>& types) {
  std::vector<double> taken;
  for (const auto& type : types) {
    if (hues_.count(type)) continue;
    double h = name_hue(type);
    for (int tries = 0; tries < 12; ++tries) {
      bool clear = true;
      for (double t : taken) clear = clear && gap(h, t) >= kMinHueGap;
      if (clear) break;
      h = std::fmod(h + kHueStep, 360.0);
    }
    taken.push_back(h);
    hues_[type] = h;
  }
}

double Palette::hue(const std::string& type) const {
  auto it = hues_.find(type);
  return it == hues_.end() ? name_hue(type) : it->second;
}

std::string Palette::strong(const std::string& type) const { return hsl(hue(type), 0.55, 0.58); }
std::string Palette::light(const std::string& type) const { return hsl(hue(type), 0.45, 0.86); }
std::string Palette::mid(const std::string& type) const { return hsl(hue(type), 0.45, 0.74); }

}  // namespace eulerstack::cli::picture
