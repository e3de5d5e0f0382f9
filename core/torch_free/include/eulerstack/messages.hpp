#pragma once
// Message catalogs (core/i18n/<lang>.json, compiled into the library) and the
// rendering of diagnostics in the three-line form:
//   <file>:<line>:<col>: <Category>: <what>
//   Fix: <how>
//   See: <where in the docs>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "eulerstack/diagnostics.hpp"

namespace eulerstack {

struct PluginCatalog;  // eulerstack/plugin.hpp

const std::vector<std::string>& supported_languages();  // en, ko, zh, ja, es

// --lang if given, else EULERSTACK_LANG, else the locale (LC_ALL, LC_MESSAGES,
// LANG), else English. An unsupported --lang is a usage error (thrown).
std::string resolve_language(const std::optional<std::string>& flag);

// One field ("msg", "fix" or "see") of a message, formatted with `args`;
// falls back to English when a language lacks the id. An argument whose value
// is "@msg:<id>" is replaced by that message in the same language. Unknown ids render as
// the id itself so a missing translation never hides an error.
std::string message_text(std::string_view lang, std::string_view id, std::string_view field,
                         const MessageArgs& args = {});

bool message_has(std::string_view lang, std::string_view id, std::string_view field);
std::vector<std::string> message_ids(std::string_view lang);

std::string render(const Diagnostic& diagnostic, std::string_view lang);

// A plugin's message catalogs, by language, checked: supported languages,
// English among them, every id "<plugin>.<what>" with a msg. nullopt with
// `why` set when they are not.
using PluginMessages = std::map<std::string, nlohmann::json>;
std::optional<PluginMessages> parse_plugin_messages(std::string_view plugin, const PluginCatalog* catalogs,
                                                    std::size_t count, std::string& why);
// Adds a loaded plugin's messages to the catalogs every diagnostic reads.
void add_plugin_messages(const PluginMessages& messages);

}  // namespace eulerstack
