#pragma once
// Colours for block types that no table names: a type's hue is a stable hash
// of its name (FNV-1a), so a block keeps its colour across pictures and
// releases; within one palette, hues that land too close to an earlier type's
// are moved on by a fixed step until they stand apart.

#include <map>
#include <string>
#include <vector>

namespace eulerstack::cli::picture {

class Palette {
 public:
  // Types in a stable order (first use); later types yield to earlier ones.
  explicit Palette(const std::vector<std::string>& types);
  // "#rrggbb": the band colour of a mixer, a lighter tone for an FFN chip.
  std::string strong(const std::string& type) const;
  std::string light(const std::string& type) const;
  std::string mid(const std::string& type) const;

 private:
  double hue(const std::string& type) const;
  std::map<std::string, double> hues_;
};

// The stable hue (0..360) of a name, before any separation.
double name_hue(const std::string& name);
// "#rrggbb" of a hue, saturation and lightness (0..1).
std::string hsl(double hue, double saturation, double lightness);

}  // namespace eulerstack::cli::picture
