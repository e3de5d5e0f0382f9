#include "compare_svg.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "architecture_svg.hpp"
#include "svg_text.hpp"

namespace eulerstack::cli::picture {
namespace {

constexpr double kGap = 24, kTop = 44;
constexpr std::size_t kListed = 40;

}  // namespace

std::string index_ranges(const std::set<int>& indices) {
  std::string out;
  for (auto it = indices.begin(); it != indices.end();) {
    const int first = *it;
    int last = first;
    while (++it != indices.end() && *it == last + 1) ++last;
    out += (out.empty() ? "" : ", ") + (first == last ? std::to_string(first) : fmt::format("{}-{}", first, last));
  }
  return out;
}

std::string difference_line(const Difference& d) {
  return d.path + ": " + d.before.value_or("\u2014") + " \u2192 " + d.after.value_or("\u2014");
}

std::string compare_svg(const Compared& a, const Compared& b, const Texts& text) {
  const Palette palette = palette_for({&a.model, &b.model});
  const Scale scale = shared_scale(scale_of(a.model), scale_of(b.model));
  const std::set<int> differing = differing_layers(a.ir, b.ir);
  const Drawing left = draw_model(a.model, palette, scale, text, differing);
  const Drawing right = draw_model(b.model, palette, scale, text, differing);
  const double width = left.width + kGap + right.width;

  std::string body = fmt::format("<text x=\"16\" y=\"28\" font-size=\"18\" font-weight=\"bold\">{}</text>\n",
                                 escape(text("picture.compare_title", {{"a", a.model.name}, {"b", b.model.name}})));
  body += fmt::format("<g class=\"side\" data-side=\"a\" transform=\"translate(0 {})\">\n{}</g>\n", num(kTop), left.body);
  body += fmt::format("<g class=\"side\" data-side=\"b\" transform=\"translate({} {})\">\n{}</g>\n",
                      num(left.width + kGap), num(kTop), right.body);
  body += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#d5d9e0\"/>\n",
                      num(left.width + kGap / 2), num(kTop), num(kTop + std::max(left.height, right.height)));

  const auto differences = ir_differences(a.ir, b.ir);
  double y = kTop + std::max(left.height, right.height) + 24;
  body += fmt::format("<g class=\"differences\" data-count=\"{}\" data-layers=\"{}\">\n", differences.size(),
                      escape(index_ranges(differing)));
  body += fmt::format("<text x=\"16\" y=\"{}\" font-size=\"13\" font-weight=\"bold\">{}</text>\n", num(y),
                      escape(text("picture.differences", {{"count", std::to_string(differences.size())}})));
  y += 18;
  auto line = [&](const std::string& content, const char* fill) {
    body += fmt::format("<text x=\"16\" y=\"{}\" font-size=\"11\" fill=\"{}\" class=\"difference\">{}</text>\n", num(y), fill,
                        escape(fit(content, width - 32, 11)));
    y += 15;
  };
  if (differences.empty() && differing.empty()) line(text("picture.no_differences", {}), "#5b6475");
  if (!differing.empty()) line(text("picture.differing_layers", {{"layers", index_ranges(differing)}}), "#d62728");
  for (std::size_t i = 0; i < std::min(kListed, differences.size()); ++i) line(difference_line(differences[i]), "#1d2433");
  if (differences.size() > kListed)
    line(text("picture.more", {{"count", std::to_string(differences.size() - kListed)}}), "#5b6475");
  body += "</g>\n";
  return svg_document(body, width, y + 10, text("picture.compare_title", {{"a", a.model.name}, {"b", b.model.name}}),
                      " class=\"eulerstack-compare\"");
}

}  // namespace eulerstack::cli::picture
