#pragma once
// Small helpers for writing SVG and HTML by hand: escaping, numbers, and
// cutting a label to the width a box can hold.

#include <string>
#include <string_view>

namespace eulerstack::cli::picture {

// &, <, >, " and ' as entities: safe in text and in attribute values.
std::string escape(std::string_view text);

// A coordinate with at most one decimal: "12", "12.5".
std::string num(double value);

// `text` cut to about `width` pixels at `font_px` (an ellipsis marks the cut);
// counts UTF-8 code points, wide (CJK) ones double.
std::string fit(const std::string& text, double width, double font_px);

}  // namespace eulerstack::cli::picture
