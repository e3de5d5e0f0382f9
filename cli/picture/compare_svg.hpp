#pragma once
// explain A --compare B: the two pictures side by side on shared bar scales
// and one palette, the layers that differ outlined, and the differing IR
// leaves listed below (the visual form of diffing two compiled JSONs).

#include <string>
#include <vector>

#include "ir_diff.hpp"
#include "picture_model.hpp"
#include "texts.hpp"

namespace eulerstack::cli::picture {

struct Compared {
  const PictureModel& model;
  const Json& ir;
};

std::string compare_svg(const Compared& a, const Compared& b, const Texts& text);

// "0-3, 7, 9-12"
std::string index_ranges(const std::set<int>& indices);

// "path: before → after", "—" for a side that lacks the leaf.
std::string difference_line(const Difference& d);

}  // namespace eulerstack::cli::picture
