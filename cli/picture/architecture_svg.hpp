#pragma once
// The architecture picture as SVG: a header with the dims and the totals
// against the target, one band per layer in schedule order (mixer and FFN
// chips coloured by type, the schedule's repeated groups bracketed, overrides
// marked, parameters and decode state as bars), and a footer with the
// parameters by block and the legend.

#include <set>
#include <string>

#include "palette.hpp"
#include "picture_model.hpp"
#include "texts.hpp"

namespace eulerstack::cli::picture {

// Bar lengths are relative to these, so that two pictures can share them.
struct Scale {
  std::int64_t max_layer_params = 1;
  std::int64_t max_layer_state = 1;
};
Scale scale_of(const PictureModel& model);
Scale shared_scale(const Scale& a, const Scale& b);

struct Drawing {
  std::string body;  // SVG elements, drawn from (0, 0)
  double width = 0;
  double height = 0;
};

// `differing`: layer indices outlined as changed (explain --compare).
Drawing draw_model(const PictureModel& model, const Palette& palette, const Scale& scale, const Texts& text,
                   const std::set<int>& differing = {});

// The palette of one or more models: their block types in order of first use.
Palette palette_for(const std::vector<const PictureModel*>& models);

// A whole SVG document around drawn content.
std::string svg_document(const std::string& body, double width, double height, const std::string& title,
                         const std::string& root_attributes);

std::string architecture_svg(const PictureModel& model, const Texts& text);

}  // namespace eulerstack::cli::picture
