#include "architecture_svg.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "../spec_loader.hpp"
#include "svg_text.hpp"

namespace eulerstack::cli::picture {
namespace {

// Columns, left to right (pixels).
constexpr double kWidth = 1040, kLeft = 16, kRight = kWidth - 16;
constexpr double kIndexRight = 44, kGroupX = 52, kGroupTextX = 60;
constexpr double kMixerX = 196, kMixerW = 236, kFfnX = 460, kFfnW = 206;
constexpr double kMarkX = 678, kParamsX = 692, kParamsW = 110, kParamsTextX = 808;
constexpr double kStateX = 864, kStateW = 100, kStateTextX = 970;
constexpr double kBandsTop = 150;

constexpr const char* kInk = "#1d2433";
constexpr const char* kMuted = "#5b6475";
constexpr const char* kNormColour = "#c3c8d1";
constexpr const char* kEmbeddingColour = "#8fa3b8";
constexpr const char* kHeadColour = "#6c7a89";
constexpr const char* kOverrideColour = "#f28e2b";
constexpr const char* kDiffColour = "#d62728";

std::string text_at(double x, double y, const std::string& content, double size, const std::string& extra = "") {
  return fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"{}\"{}>{}</text>\n", num(x), num(y), num(size), extra,
                     escape(content));
}

std::string rect(double x, double y, double w, double h, const std::string& fill, const std::string& extra = "") {
  return fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"{}/>\n", num(x), num(y),
                     num(std::max(0.0, w)), num(std::max(0.0, h)), fill, extra);
}

double band_height(std::size_t layers) { return layers <= 40 ? 20.0 : std::max(3.0, 800.0 / static_cast<double>(layers)); }
double band_gap(double height) { return height >= 10 ? 2.0 : height >= 5 ? 1.0 : 0.0; }

// Every how many layers an index is printed when the bands are too thin for all.
int index_step(double pitch) {
  for (int step : {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000})
    if (pitch * step >= 11.0) return step;
  return 10000;
}

std::string percent(std::int64_t part, std::int64_t whole) {
  return whole > 0 ? fmt::format("{:.1f}", 100.0 * static_cast<double>(part) / static_cast<double>(whole)) : "0.0";
}

std::string state_colour(const std::string& part) { return hsl(name_hue(part), 0.35, 0.66); }

std::string state_summary(const spec::LayerState& state, const Texts& text) {
  if (!state.known) return "?";
  if (state.parts.empty()) return text("picture.state_none", {});
  std::string out = byte_size(state.bytes) + " (";
  for (std::size_t i = 0; i < state.parts.size(); ++i)
    out += (i ? ", " : "") + state.parts[i].name + " " + byte_size(state.parts[i].bytes);
  return out + ")";
}

std::string layer_tooltip(const LayerView& l, const Texts& text) {
  std::string out = text("picture.layer_title", {{"index", std::to_string(l.index)}, {"template", l.template_name}});
  out += "\nmixer: " + l.mixer.text() + " (" + grouped(l.params.mixer) + ")";
  out += "\nffn: " + l.ffn.text() + " (" + grouped(l.params.ffn) + ")";
  out += "\n" + l.norm + ": " + grouped(l.params.norms);
  out += "\n" + text("picture.col_params", {}) + ": " + grouped(l.total_params);
  out += "\n" + text("picture.col_state", {}) + ": " + state_summary(l.state, text);
  for (const auto& o : l.overrides) out += "\n\u25c6 " + o;
  return out;
}

void draw_header(std::string& svg, const PictureModel& m, const Texts& text) {
  svg += text_at(kLeft, 30, m.name, 20, " font-weight=\"bold\"");
  svg += text_at(kLeft, 50,
                 text("picture.dims", {{"d_model", std::to_string(m.d_model)}, {"heads", std::to_string(m.n_heads)},
                                       {"kv_heads", std::to_string(m.n_kv_heads)}, {"mlp_ratio", m.mlp_ratio}}),
                 12, fmt::format(" fill=\"{}\"", kMuted));
  const std::string head = text(m.tied ? "picture.head_tied" : "picture.head_untied", {{"head", m.head}});
  svg += text_at(kLeft, 67,
                 text("picture.vocab", {{"vocab", std::to_string(m.vocab_size)}, {"max_seq", std::to_string(m.max_seq_len)},
                                        {"dtype", m.dtype}, {"positional", m.positional.text()}, {"head", head}}),
                 12, fmt::format(" fill=\"{}\"", kMuted));
  std::string totals = text("picture.params_total", {{"short", short_count(m.total_params)}, {"exact", grouped(m.total_params)},
                                                     {"layers", std::to_string(m.layers.size())}});
  if (m.target_params > 0)
    totals += " \u00b7 " + text("picture.params_target", {{"target", short_count(m.target_params)},
                                                          {"ratio", percent(m.total_params, m.target_params)}});
  svg += text_at(kLeft, 92, totals, 14, " font-weight=\"bold\" class=\"totals\"");
  std::string state = text("picture.state_total", {{"tokens", grouped(m.max_seq_len)}, {"size", byte_size(m.state_bytes)},
                                                   {"exact", grouped(m.state_bytes)},
                                                   {"per_token", byte_size(m.state_bytes_per_token)}});
  if (!m.state_known) state += " \u00b7 " + text("picture.state_unknown", {});
  svg += text_at(kLeft, 112, state, 12, " class=\"state-total\"");
  const std::string heading = fmt::format(" fill=\"{}\" font-weight=\"bold\"", kMuted);
  svg += text_at(kIndexRight, 140, text("picture.col_layer", {}), 10, heading + " text-anchor=\"end\"");
  svg += text_at(kGroupTextX, 140, text("picture.col_template", {}), 10, heading);
  svg += text_at(kMixerX, 140, text("picture.col_mixer", {}), 10, heading);
  svg += text_at(kFfnX, 140, text("picture.col_ffn", {}), 10, heading);
  svg += text_at(kParamsX, 140, text("picture.col_params", {}), 10, heading);
  svg += text_at(kStateX, 140, text("picture.col_state", {}), 10, heading);
}

void draw_layer(std::string& svg, const LayerView& l, double y, double bh, bool label_index, const Palette& palette,
                const Scale& scale, const Texts& text, bool differs) {
  const double fs = std::min(11.0, bh - 5.0);
  const bool labels = fs >= 7.0;
  const double base = y + bh / 2 + fs * 0.36;
  svg += fmt::format(
      "<g class=\"layer\" data-index=\"{}\" data-template=\"{}\" data-mixer=\"{}\" data-ffn=\"{}\" data-params=\"{}\" "
      "data-state-bytes=\"{}\" data-overrides=\"{}\" data-differs=\"{}\">\n<title>{}</title>\n",
      l.index, escape(l.template_name), escape(l.mixer.type), escape(l.ffn.type), l.total_params,
      l.state.known ? std::to_string(l.state.bytes) : "", l.overrides.size(), differs ? "true" : "false",
      escape(layer_tooltip(l, text)));
  if (bh >= 8 && l.index % 2 == 1) svg += rect(kLeft, y - 1, kRight - kLeft, bh + 2, "#f5f6f9");
  if (differs)
    svg += rect(kMixerX - 4, y - 1, kRight - kMixerX + 4, bh + 2, "none",
                fmt::format(" stroke=\"{}\" stroke-width=\"2\" rx=\"3\"", kDiffColour));
  if (label_index)
    svg += text_at(kIndexRight, y + bh / 2 + std::min(10.0, std::max(bh, 9.0) - 1) * 0.36, std::to_string(l.index),
                   std::min(10.0, std::max(bh, 9.0) - 1), fmt::format(" fill=\"{}\" text-anchor=\"end\"", kMuted));
  const std::string radius = bh >= 8 ? " rx=\"3\"" : "";
  svg += rect(kMixerX, y, kMixerW, bh, palette.strong(l.mixer.type), radius + " class=\"mixer\"");
  svg += rect(kFfnX, y, kFfnW, bh, palette.light(l.ffn.type),
              radius + fmt::format(" stroke=\"{}\" stroke-width=\"1.2\" class=\"ffn\"", palette.strong(l.ffn.type)));
  if (labels) {
    svg += text_at(kMixerX + 6, base, fit(l.mixer.text(), kMixerW - 12, fs), fs, " fill=\"#10141c\"");
    svg += text_at(kFfnX + 6, base, fit(l.ffn.text(), kFfnW - 12, fs), fs, " fill=\"#10141c\"");
  }
  // Sequential: the FFN reads the mixer's output; parallel: both read one normalized input.
  const double join = (kMixerX + kMixerW + kFfnX) / 2;
  if (bh >= 6)
    svg += text_at(join, y + bh / 2 + std::min(12.0, bh) * 0.36, l.parallel ? "\u2225" : "\u2192", std::min(12.0, bh),
                   fmt::format(" fill=\"{}\" text-anchor=\"middle\" font-weight=\"bold\" class=\"residual\"", kInk));
  else if (l.parallel)
    svg += rect(join - 1, y, 2, bh, kInk);
  if (!l.overrides.empty()) {
    const double r = std::min(5.0, bh / 2);
    svg += fmt::format("<path d=\"M {} {} L {} {} L {} {} L {} {} Z\" fill=\"{}\" class=\"override\"/>\n",
                       num(kMarkX), num(y + bh / 2 - r), num(kMarkX + r), num(y + bh / 2), num(kMarkX),
                       num(y + bh / 2 + r), num(kMarkX - r), num(y + bh / 2), kOverrideColour);
  }
  const double bar_h = std::max(2.0, bh * 0.7), bar_y = y + (bh - bar_h) / 2;
  double x = kParamsX;
  const double per = kParamsW / static_cast<double>(std::max<std::int64_t>(1, scale.max_layer_params));
  for (const auto& [count, colour] : {std::pair{l.params.mixer, palette.strong(l.mixer.type)},
                                      std::pair{l.params.ffn, palette.mid(l.ffn.type)},
                                      std::pair{l.params.norms, std::string(kNormColour)}}) {
    svg += rect(x, bar_y, static_cast<double>(count) * per, bar_h, colour);
    x += static_cast<double>(count) * per;
  }
  if (labels) svg += text_at(kParamsTextX, base, short_count(l.total_params), fs, fmt::format(" fill=\"{}\"", kInk));
  if (!l.state.known) {
    if (labels) svg += text_at(kStateX, base, "?", fs, fmt::format(" fill=\"{}\"", kMuted));
  } else {
    x = kStateX;
    const double per_byte = kStateW / static_cast<double>(std::max<std::int64_t>(1, scale.max_layer_state));
    for (const auto& part : l.state.parts) {
      // A state far smaller than the largest still shows: at least a sliver.
      const double w = part.bytes > 0 ? std::max(1.5, static_cast<double>(part.bytes) * per_byte) : 0.0;
      svg += rect(x, bar_y, w, bar_h, state_colour(part.name));
      x += w;
    }
    if (labels)
      svg += text_at(kStateTextX, base, l.state.parts.empty() ? "0" : byte_size(l.state.bytes), fs,
                     fmt::format(" fill=\"{}\"", kInk));
  }
  svg += "</g>\n";
}

void draw_groups(std::string& svg, const PictureModel& m, double pitch, double bh) {
  double free_from = 0;  // labels never overlap: the next may start below this
  for (const auto& g : m.groups) {
    const double y1 = kBandsTop + g.first * pitch, y2 = y1 + g.repeat * pitch - (pitch - bh);
    svg += fmt::format("<g class=\"group\" data-first=\"{}\" data-repeat=\"{}\" data-template=\"{}\">\n", g.first, g.repeat,
                       escape(g.template_name));
    if (g.repeat > 1)
      svg += fmt::format("<path d=\"M {} {} H {} V {} H {}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>\n",
                         num(kGroupX + 6), num(y1 + 1), num(kGroupX), num(y2 - 1), num(kGroupX + 6), kMuted);
    const double baseline = y1 + std::min(bh, 20.0) / 2 + 4;  // the chips' baseline at full height
    if (y1 >= free_from && (g.repeat > 1 || bh >= 12)) {
      const std::string label = g.repeat > 1 ? g.template_name + " \u00d7" + std::to_string(g.repeat) : g.template_name;
      svg += text_at(kGroupTextX, baseline, fit(label, kMixerX - kGroupTextX - 8, 11), 11,
                     fmt::format(" fill=\"{}\"", kInk));
      free_from = baseline + 6;
    }
    svg += "</g>\n";
  }
}

std::string slice_colour(const CountSlice& s, const Palette& palette) {
  if (s.kind == "mixer") return palette.strong(s.key);
  if (s.kind == "ffn") return palette.mid(s.key);
  if (s.key == "embedding") return kEmbeddingColour;
  if (s.key == "head") return kHeadColour;
  return kNormColour;
}

std::string slice_label(const CountSlice& s, const Texts& text) {
  if (!s.kind.empty()) return s.key + " (" + s.kind + ")";
  return text("picture.slice_" + s.key, {});
}

double draw_footer(std::string& svg, const PictureModel& m, double y, const Palette& palette, const Texts& text) {
  svg += text_at(kLeft, y, text("picture.by_block", {}), 13, " font-weight=\"bold\"");
  double x = kLeft;
  const double per = (kRight - kLeft) / static_cast<double>(std::max<std::int64_t>(1, m.total_params));
  for (const auto& s : m.slices) {
    if (s.params == 0) continue;
    svg += rect(x, y + 8, static_cast<double>(s.params) * per, 18, slice_colour(s, palette),
                fmt::format(" class=\"slice\" data-key=\"{}\" data-params=\"{}\"", escape(s.key), s.params));
    x += static_cast<double>(s.params) * per;
  }
  y += 46;
  for (const auto& s : m.slices) {
    svg += rect(kLeft, y - 10, 12, 12, slice_colour(s, palette), " stroke=\"#8a93a3\" stroke-width=\"0.5\"");
    svg += text_at(kLeft + 18, y, slice_label(s, text), 11, fmt::format(" fill=\"{}\"", kInk));
    svg += text_at(330, y, grouped(s.params), 11, fmt::format(" fill=\"{}\" text-anchor=\"end\"", kInk));
    svg += text_at(384, y, percent(s.params, m.total_params) + "%", 11, fmt::format(" fill=\"{}\" text-anchor=\"end\"", kMuted));
    for (const auto& t : m.block_types)
      if (t.kind == s.kind && t.type == s.key)
        svg += text_at(398, y, fit(t.summary + (t.plugin.empty() ? "" : " [" + t.plugin + "]"), kRight - 398, 11), 11,
                       fmt::format(" fill=\"{}\"", kMuted));
    y += 17;
  }
  std::vector<std::string> state_parts;
  for (const auto& l : m.layers)
    for (const auto& p : l.state.parts)
      if (std::find(state_parts.begin(), state_parts.end(), p.name) == state_parts.end()) state_parts.push_back(p.name);
  if (!state_parts.empty()) {
    y += 6;
    double sx = kLeft;
    svg += text_at(sx, y, text("picture.col_state", {}) + ":", 11, fmt::format(" fill=\"{}\"", kMuted));
    sx += 110;
    for (const auto& name : state_parts) {
      svg += rect(sx, y - 10, 12, 12, state_colour(name));
      svg += text_at(sx + 16, y, name, 11, fmt::format(" fill=\"{}\"", kInk));
      sx += 30 + 6.6 * static_cast<double>(name.size());
    }
    y += 17;
  }
  bool any_override = false;
  for (const auto& g : m.groups) any_override = any_override || g.overridden;
  if (any_override) {
    y += 8;
    svg += text_at(kLeft, y, text("picture.overrides", {}), 13, " font-weight=\"bold\"");
    y += 18;
    for (const auto& g : m.groups) {
      if (!g.overridden) continue;
      std::string line = text("picture.override_group", {{"first", std::to_string(g.first)},
                                                         {"last", std::to_string(g.first + g.repeat - 1)},
                                                         {"template", g.template_name}}) + ": ";
      const auto& overrides = m.layers.at(g.first).overrides;
      for (std::size_t i = 0; i < overrides.size(); ++i) line += (i ? ", " : "") + overrides[i];
      svg += text_at(kLeft, y, "\u25c6", 11, fmt::format(" fill=\"{}\"", kOverrideColour));
      svg += text_at(kLeft + 16, y, fit(line, kRight - kLeft - 16, 11), 11, fmt::format(" fill=\"{}\"", kInk));
      y += 16;
    }
  }
  y += 8;
  svg += text_at(kLeft, y, text("picture.key", {}), 10, fmt::format(" fill=\"{}\"", kMuted));
  return y + 14;
}

}  // namespace

Scale scale_of(const PictureModel& model) {
  Scale s;
  for (const auto& l : model.layers) {
    s.max_layer_params = std::max(s.max_layer_params, l.total_params);
    if (l.state.known) s.max_layer_state = std::max(s.max_layer_state, l.state.bytes);
  }
  return s;
}

Scale shared_scale(const Scale& a, const Scale& b) {
  return {std::max(a.max_layer_params, b.max_layer_params), std::max(a.max_layer_state, b.max_layer_state)};
}

Palette palette_for(const std::vector<const PictureModel*>& models) {
  std::vector<std::string> types;
  for (const auto* m : models)
    for (const auto& t : m->block_types) types.push_back(t.type);
  return Palette(types);
}

Drawing draw_model(const PictureModel& m, const Palette& palette, const Scale& scale, const Texts& text,
                   const std::set<int>& differing) {
  Drawing d;
  d.width = kWidth;
  draw_header(d.body, m, text);
  const double bh = band_height(m.layers.size()), pitch = bh + band_gap(bh);
  const int step = index_step(pitch);
  for (const auto& l : m.layers)
    draw_layer(d.body, l, kBandsTop + l.index * pitch, bh, l.index % step == 0, palette, scale, text,
               differing.count(l.index) > 0);
  draw_groups(d.body, m, pitch, bh);
  d.height = draw_footer(d.body, m, kBandsTop + static_cast<double>(m.layers.size()) * pitch + 26, palette, text);
  return d;
}

std::string svg_document(const std::string& body, double width, double height, const std::string& title,
                         const std::string& root_attributes) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"DejaVu Sans, Noto Sans, Helvetica, Arial, sans-serif\" fill=\"{2}\"{3}>\n<title>{4}</title>\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n{5}</svg>\n",
      num(width), num(height), kInk, root_attributes, escape(title), body);
}

std::string architecture_svg(const PictureModel& m, const Texts& text) {
  const Drawing d = draw_model(m, palette_for({&m}), scale_of(m), text);
  return svg_document(d.body, d.width, d.height, m.name,
                      fmt::format(" class=\"eulerstack-architecture\" data-model=\"{}\" data-layers=\"{}\" "
                                  "data-total-params=\"{}\" data-state-bytes=\"{}\"",
                                  escape(m.name), m.layers.size(), m.total_params, m.state_bytes));
}

}  // namespace eulerstack::cli::picture
