#include "eulerstack/messages.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>

#include <fmt/args.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "catalog_data.hpp"  // generated from core/i18n/*.json
#include "eulerstack/plugin.hpp"

namespace eulerstack {
namespace {

using Catalogs = std::map<std::string, nlohmann::json, std::less<>>;

// Core's catalogs, then those of each plugin as the host loads it (before any
// thread starts; messages are only read afterwards).
Catalogs& catalogs() {
  static Catalogs parsed = [] {
    Catalogs out;
    for (const auto& [lang, text] : kCatalogSources) out[lang] = nlohmann::json::parse(text);
    return out;
  }();
  return parsed;
}

const nlohmann::json* lookup(std::string_view lang, std::string_view id, std::string_view field) {
  auto cat = catalogs().find(lang);
  if (cat == catalogs().end()) return nullptr;
  auto entry = cat->second.find(std::string(id));
  if (entry == cat->second.end()) return nullptr;
  auto value = entry->find(std::string(field));
  return value == entry->end() ? nullptr : &*value;
}

std::string format_template(const std::string& text, const MessageArgs& args) {
  fmt::dynamic_format_arg_store<fmt::format_context> store;
  for (const auto& [name, value] : args) store.push_back(fmt::arg(name.c_str(), value));
  try {
    return fmt::vformat(text, store);
  } catch (const fmt::format_error&) {
    return text;  // a placeholder without an argument: show the template rather than nothing
  }
}

std::string language_of_locale(const char* locale) {
  if (!locale || !*locale) return {};
  std::string value(locale);
  std::string code = value.substr(0, value.find_first_of("_.@"));
  std::transform(code.begin(), code.end(), code.begin(), [](unsigned char c) { return std::tolower(c); });
  return code;
}

bool supported(const std::string& lang) {
  const auto& all = supported_languages();
  return std::find(all.begin(), all.end(), lang) != all.end();
}

}  // namespace

std::optional<PluginMessages> parse_plugin_messages(std::string_view plugin, const PluginCatalog* sources,
                                                    std::size_t count, std::string& why) {
  PluginMessages out;
  const std::string prefix = std::string(plugin) + ".";
  for (std::size_t i = 0; i < count; ++i) {
    const std::string lang = sources[i].lang ? sources[i].lang : "";
    if (!supported(lang)) {
      why = "a catalog for the unsupported language '" + lang + "'";
      return std::nullopt;
    }
    nlohmann::json catalog = nlohmann::json::parse(sources[i].json ? sources[i].json : "", nullptr, false);
    if (!catalog.is_object()) {
      why = "the " + lang + " catalog is not a JSON object";
      return std::nullopt;
    }
    for (const auto& [id, entry] : catalog.items()) {
      if (id.rfind(prefix, 0) != 0 || id.size() == prefix.size()) {
        why = "message id '" + id + "' does not start with '" + prefix + "'";
        return std::nullopt;
      }
      if (!entry.is_object() || !entry.contains("msg") || !entry["msg"].is_string()) {
        why = "message '" + id + "' (" + lang + ") has no text (msg)";
        return std::nullopt;
      }
    }
    out[lang] = std::move(catalog);
  }
  if (count && !out.count("en")) {
    why = "no English catalog";
    return std::nullopt;
  }
  return out;
}

void add_plugin_messages(const PluginMessages& messages) {
  for (const auto& [lang, catalog] : messages)
    for (const auto& [id, entry] : catalog.items()) catalogs()[lang][id] = entry;
}

const std::vector<std::string>& supported_languages() {
  static const std::vector<std::string> langs{"en", "ko", "zh", "ja", "es"};
  return langs;
}

std::string resolve_language(const std::optional<std::string>& flag) {
  if (flag) {
    if (!supported(*flag))
      throw Error(make_error("UsageError", "cli.unsupported_language",
                             {{"lang", *flag}, {"choices", fmt::format("{}", fmt::join(supported_languages(), ", "))}}));
    return *flag;
  }
  if (const char* env = std::getenv("EULERSTACK_LANG"); env && supported(env)) return env;
  for (const char* var : {"LC_ALL", "LC_MESSAGES", "LANG"}) {
    std::string lang = language_of_locale(std::getenv(var));
    if (lang.empty()) continue;
    return supported(lang) ? lang : "en";
  }
  return "en";
}

bool message_has(std::string_view lang, std::string_view id, std::string_view field) {
  return lookup(lang, id, field) != nullptr;
}

std::vector<std::string> message_ids(std::string_view lang) {
  std::vector<std::string> ids;
  auto cat = catalogs().find(lang);
  if (cat != catalogs().end())
    for (const auto& [id, entry] : cat->second.items()) ids.push_back(id);
  return ids;
}

std::string message_text(std::string_view lang, std::string_view id, std::string_view field, const MessageArgs& args) {
  const nlohmann::json* text = lookup(lang, id, field);
  if (!text) text = lookup("en", id, field);
  if (!text) return field == "msg" ? std::string(id) : std::string();
  MessageArgs expanded = args;
  // "@msg:<id>" arguments are words of the catalog, rendered in the same language.
  for (auto& [name, value] : expanded)
    if (value.rfind("@msg:", 0) == 0) value = message_text(lang, value.substr(5), "msg");
  // A note about another failure carries that failure's id: render it in place.
  if (auto nested = args.find("reason_id"); nested != args.end()) {
    MessageArgs inner = args;
    inner.erase("reason_id");
    expanded["reason"] = message_text(lang, nested->second, "msg", inner);
  }
  return format_template(text->get<std::string>(), expanded);
}

std::string render(const Diagnostic& d, std::string_view lang) {
  std::string out;
  if (!d.where.file.empty()) {
    out += d.where.file;
    if (d.where.line > 0) out += fmt::format(":{}", d.where.line);
    if (d.where.column > 0) out += fmt::format(":{}", d.where.column);
    out += ": ";
  }
  out += d.category + ": " + message_text(lang, d.id, "msg", d.args) + "\n";
  for (const auto& note : d.notes) out += "  " + message_text(lang, note.id, "msg", note.args) + "\n";
  std::string fix = message_text(lang, d.id, "fix", d.args);
  std::string see = message_text("en", d.id, "see", d.args);
  if (!fix.empty()) out += message_text(lang, "label.fix", "msg") + ": " + fix + "\n";
  if (!see.empty()) out += message_text(lang, "label.see", "msg") + ": " + see + "\n";
  return out;
}

}  // namespace eulerstack
