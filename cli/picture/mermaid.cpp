#include "mermaid.hpp"

#include <cctype>
#include <map>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "../spec_loader.hpp"
#include "architecture_svg.hpp"

namespace eulerstack::cli::picture {
namespace {

// Mermaid labels sit in "..."; these characters would end or break them.
std::string label(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"') out += "#quot;";
    else if (c == '<') out += "#lt;";
    else if (c == '>') out += "#gt;";
    else if (c == '\n') out += "<br/>";
    else out += c;
  }
  return out;
}

std::string class_name(const std::string& type) {
  std::string out = "t_";
  for (char c : type) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

std::string layers_text(const GroupView& g, const Texts& text) {
  if (g.repeat == 1) return text("picture.mermaid_layer", {{"index", std::to_string(g.first)}});
  return text("picture.mermaid_layers", {{"first", std::to_string(g.first)}, {"last", std::to_string(g.first + g.repeat - 1)}});
}

// The nodes of one model, ids prefixed by `prefix`; returns the ids in stack order.
std::vector<std::string> emit_model(std::string& out, const PictureModel& m, const std::string& prefix,
                                    const std::string& indent, const std::set<int>& differing, const Texts& text,
                                    std::map<std::string, std::vector<std::string>>& classes) {
  std::vector<std::string> chain;
  const std::string embedding = prefix + "embedding";
  out += fmt::format("{}{}[\"{}\"]\n", indent, embedding,
                     label(text("picture.slice_embedding", {}) + " \u00b7 " + m.positional.text() + "\n" +
                           short_count(m.slices.front().params)));
  chain.push_back(embedding);
  for (std::size_t i = 0; i < m.groups.size(); ++i) {
    const GroupView& g = m.groups[i];
    const LayerView& l = m.layers.at(g.first);
    const std::string id = fmt::format("{}g{}", prefix, i);
    std::string title = layers_text(g, text) + " \u00b7 " + g.template_name + (g.repeat > 1 ? " \u00d7" + std::to_string(g.repeat) : "");
    std::string details = text("picture.mermaid_params", {{"params", short_count(l.total_params)}});
    for (const auto& o : l.overrides) details += "\n\u25c6 " + o;
    bool differs = false;
    for (int k = g.first; k < g.first + g.repeat; ++k) differs = differs || differing.count(k);
    if (l.parallel) {
      out += fmt::format("{}subgraph {} [\"{}\"]\n{}  direction LR\n", indent, id, label(title + " \u2225\n" + details), indent);
      out += fmt::format("{}  {}m[\"{}\"]\n{}  {}f[\"{}\"]\n{}end\n", indent, id, label(l.mixer.text()), indent, id,
                         label(l.ffn.text()), indent);
      classes[class_name(l.mixer.type)].push_back(id + "m");
      classes[class_name(l.ffn.type) + "_ffn"].push_back(id + "f");
    } else {
      out += fmt::format("{}{}[\"{}\"]\n", indent, id,
                         label(title + "\n" + l.mixer.text() + " \u2192 " + l.ffn.text() + "\n" + details));
      classes[class_name(l.mixer.type)].push_back(id);
    }
    if (differs) classes["differs"].push_back(id);
    chain.push_back(id);
  }
  const std::string head = prefix + "head";
  out += fmt::format("{}{}[\"{}\"]\n", indent, head,
                     label(text(m.tied ? "picture.head_tied" : "picture.head_untied", {{"head", m.head}}) + "\n" +
                           short_count(m.slices.back().params)));
  chain.push_back(head);
  return chain;
}

void emit_chain(std::string& out, const std::vector<std::string>& chain, const std::string& indent) {
  for (std::size_t i = 1; i < chain.size(); ++i) out += fmt::format("{}{} --> {}\n", indent, chain[i - 1], chain[i]);
}

void emit_classes(std::string& out, const Palette& palette, const std::vector<const PictureModel*>& models,
                  const std::map<std::string, std::vector<std::string>>& classes) {
  std::set<std::string> done;
  for (const auto* m : models)
    for (const auto& t : m->block_types) {
      const std::string name = class_name(t.type) + (t.kind == "ffn" ? "_ffn" : "");
      if (!done.insert(name).second) continue;
      if (t.kind == "ffn")
        out += fmt::format("  classDef {} fill:{},stroke:{},color:#10141c\n", name, palette.light(t.type), palette.strong(t.type));
      else
        out += fmt::format("  classDef {} fill:{},stroke:#1d2433,color:#10141c\n", name, palette.strong(t.type));
    }
  out += "  classDef differs stroke:#d62728,stroke-width:3px\n";
  for (const auto& [name, ids] : classes) {
    std::string list;
    for (const auto& id : ids) list += (list.empty() ? "" : ",") + id;
    out += fmt::format("  class {} {}\n", list, name);
  }
}

}  // namespace

std::string architecture_mermaid(const PictureModel& m, const Texts& text) {
  std::string out = "flowchart TB\n";
  std::map<std::string, std::vector<std::string>> classes;
  const auto chain = emit_model(out, m, "", "  ", {}, text, classes);
  emit_chain(out, chain, "  ");
  emit_classes(out, palette_for({&m}), {&m}, classes);
  return out;
}

std::string compare_mermaid(const PictureModel& a, const PictureModel& b, const std::set<int>& differing,
                            const Texts& text) {
  std::string out = "flowchart LR\n";
  std::map<std::string, std::vector<std::string>> classes;
  std::vector<std::vector<std::string>> chains;
  for (const auto& [m, prefix] : {std::pair{&a, std::string("a_")}, std::pair{&b, std::string("b_")}}) {
    out += fmt::format("  subgraph {}model [\"{}\"]\n    direction TB\n", prefix, label(m->name));
    chains.push_back(emit_model(out, *m, prefix, "    ", differing, text, classes));
    emit_chain(out, chains.back(), "    ");
    out += "  end\n";
  }
  emit_classes(out, palette_for({&a, &b}), {&a, &b}, classes);
  return out;
}

}  // namespace eulerstack::cli::picture
