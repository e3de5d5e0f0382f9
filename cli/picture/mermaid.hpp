#pragma once
// explain --format mermaid: a flowchart for Markdown documents, one node per
// schedule group (a subgraph of side-by-side mixer and FFN nodes where the
// residual is parallel), coloured like the SVG; with --compare, the two
// models as two subgraphs, groups with differing layers outlined.

#include <set>
#include <string>

#include "picture_model.hpp"
#include "texts.hpp"

namespace eulerstack::cli::picture {

std::string architecture_mermaid(const PictureModel& model, const Texts& text);
std::string compare_mermaid(const PictureModel& a, const PictureModel& b, const std::set<int>& differing,
                            const Texts& text);

}  // namespace eulerstack::cli::picture
