// Message catalogs, the three-line rendering and the choice of language.

#include <regex>
#include <set>

#include <doctest/doctest.h>

#include "eulerstack/messages.hpp"
#include "eulerstack/plugin.hpp"
#include "support.hpp"

using eulerstack::Diagnostic;
using eulerstack::make_error;
using eulerstack::message_text;
using eulerstack::render;
using eulerstack::resolve_language;

namespace {

Diagnostic unknown_mixer() {
  Diagnostic d = make_error("PluginError", "registry.unknown_block", {{"kind", "mixer"}, {"name", "atention"}},
                            {"model.yml", 3, 5});
  d.notes.push_back({"note.did_you_mean", {{"names", "attention"}}});
  d.notes.push_back({"note.search_path", {{"dirs", "/opt/plugins (default)"}}});
  return d;
}

std::set<std::string> placeholders(const std::string& text) {
  std::set<std::string> names;
  static const std::regex placeholder(R"(\{([a-z_]+)\})");
  for (std::sregex_iterator it(text.begin(), text.end(), placeholder), end; it != end; ++it) names.insert((*it)[1]);
  return names;
}

}  // namespace

TEST_CASE("render: location, category and message, indented notes, Fix:, See:") {
  CHECK(render(unknown_mixer(), "en") ==
        "model.yml:3:5: PluginError: no mixer named 'atention' is provided by any loaded plugin\n"
        "  did you mean: attention\n"
        "  plugin search path: /opt/plugins (default)\n"
        "Fix: Use one of the known mixer names below, or add the plugin that provides 'atention' with "
        "--plugin-dir or EULERSTACK_PLUGIN_PATH.\n"
        "See: docs/PLUGINS.md#finding-plugins\n");
}

TEST_CASE("render: partial or missing locations") {
  Diagnostic d = make_error("PluginError", "plugin.dir_missing", {{"file", "/nowhere"}, {"origin", "--plugin-dir"}});
  const std::string no_location = render(d, "en");
  CHECK(no_location.rfind("PluginError: plugin directory /nowhere (from --plugin-dir) does not exist\n", 0) == 0);

  d.where = {"spec.yml", 7, 0};
  CHECK(render(d, "en").rfind("spec.yml:7: PluginError: ", 0) == 0);
  d.where = {"spec.yml", 0, 0};
  CHECK(render(d, "en").rfind("spec.yml: PluginError: ", 0) == 0);
}

TEST_CASE("render: a message without fix or see has only its first line") {
  Diagnostic d = make_error("PluginError", "plugins.shadowed_entry", {{"name", "p"}, {"file", "/b/p.so"}, {"winner", "/a/p.so"}});
  CHECK(render(d, "en") == "PluginError: plugin 'p' in /b/p.so is shadowed by /a/p.so, found earlier on the search path\n");
}

TEST_CASE("render: an unknown id renders as the id itself") {
  CHECK(render(make_error("InternalError", "no.such.message", {{"x", "1"}}), "en") == "InternalError: no.such.message\n");
  CHECK(message_text("en", "no.such.message", "msg") == "no.such.message");
  CHECK(message_text("en", "no.such.message", "fix") == "");
  CHECK(message_text("ko", "no.such.message", "msg") == "no.such.message");
}

TEST_CASE("message_text: a placeholder without an argument shows the template") {
  CHECK(message_text("en", "plugin.dir_missing", "msg", {{"file", "/x"}}) ==
        "plugin directory {file} (from {origin}) does not exist");
  CHECK(message_text("en", "plugin.dir_missing", "msg", {{"file", "/x"}, {"origin", "default"}}) ==
        "plugin directory /x (from default) does not exist");
}

TEST_CASE("message_text: a failed-plugin note renders the failure's own message as its reason") {
  const eulerstack::MessageArgs args{{"reason_id", "plugin.not_loadable"},
                                     {"file", "/p/libx.so"},
                                     {"reason", "invalid ELF header"}};
  CHECK(message_text("en", "note.failed_plugin", "msg", args) ==
        "failed to load: /p/libx.so is not a loadable plugin library: invalid ELF header");
}

TEST_CASE("render in another language: translated labels, English doc links") {
  const std::string ko = render(unknown_mixer(), "ko");
  CHECK(test::contains(ko, message_text("ko", "registry.unknown_block", "msg", unknown_mixer().args)));
  CHECK(test::contains(ko, "\n" + message_text("ko", "label.fix", "msg") + ": "));
  CHECK(test::contains(ko, ": docs/PLUGINS.md#finding-plugins\n"));
  CHECK(test::contains(ko, "'atention'"));
  CHECK(ko.rfind("model.yml:3:5: PluginError: ", 0) == 0);  // the category is never translated
}

TEST_CASE("every catalog id exists in English, with only the English placeholders") {
  const auto en_ids = eulerstack::message_ids("en");
  REQUIRE_FALSE(en_ids.empty());
  const std::set<std::string> en(en_ids.begin(), en_ids.end());
  for (const auto& lang : eulerstack::supported_languages()) {
    CHECK_MESSAGE(eulerstack::message_has(lang, "label.fix", "msg"), "catalog ", lang, " is missing or empty");
    for (const auto& id : eulerstack::message_ids(lang)) {
      CHECK_MESSAGE(en.count(id) == 1, lang, ":", id, " has no English original");
      for (const char* field : {"msg", "fix", "see"}) {
        if (!eulerstack::message_has(lang, id, field)) continue;
        // The catalog text itself: no arguments, so every placeholder survives.
        const auto used = placeholders(message_text(lang, id, field));
        const auto known = placeholders(message_text("en", id, field));
        for (const auto& name : used)
          CHECK_MESSAGE(known.count(name) == 1, lang, ":", id, ".", field, " uses {", name, "}, unknown in en");
      }
    }
  }
}

TEST_CASE("message_text falls back to English for a language without the id") {
  const eulerstack::MessageArgs args{{"file", "/x"}, {"origin", "default"}};
  CHECK(message_text("xx", "plugin.dir_missing", "msg", args) == "plugin directory /x (from default) does not exist");
}

TEST_CASE("supported languages") {
  CHECK(eulerstack::supported_languages() == std::vector<std::string>{"en", "ko", "zh", "ja", "es"});
}

TEST_CASE("resolve_language: --lang, then EULERSTACK_LANG, then the locale, then English") {
  test::ScopedEnv lang_env("EULERSTACK_LANG", std::nullopt);
  test::ScopedEnv lc_all("LC_ALL", std::nullopt);
  test::ScopedEnv lc_messages("LC_MESSAGES", std::nullopt);
  test::ScopedEnv lang("LANG", std::nullopt);

  CHECK(resolve_language(std::nullopt) == "en");

  {
    test::ScopedEnv locale("LANG", "ko_KR.UTF-8");
    CHECK(resolve_language(std::nullopt) == "ko");
    CHECK(resolve_language(std::string("ja")) == "ja");  // the flag wins
    {
      test::ScopedEnv chosen("EULERSTACK_LANG", "es");
      CHECK(resolve_language(std::nullopt) == "es");
      CHECK(resolve_language(std::string("zh")) == "zh");
    }
    {
      test::ScopedEnv unsupported("EULERSTACK_LANG", "xx");  // ignored: falls through to the locale
      CHECK(resolve_language(std::nullopt) == "ko");
    }
    {
      test::ScopedEnv all("LC_ALL", "ja_JP.UTF-8");  // LC_ALL before LANG
      CHECK(resolve_language(std::nullopt) == "ja");
    }
    {
      test::ScopedEnv messages("LC_MESSAGES", "C");  // the first set locale decides, even when unsupported
      CHECK(resolve_language(std::nullopt) == "en");
    }
  }
  {
    test::ScopedEnv locale("LANG", "fr_FR.UTF-8");
    CHECK(resolve_language(std::nullopt) == "en");
  }
  {
    test::ScopedEnv locale("LANG", "zh_CN@stroke");
    CHECK(resolve_language(std::nullopt) == "zh");
  }
}

TEST_CASE("resolve_language: an unsupported --lang is a usage error") {
  try {
    resolve_language(std::string("xx"));
    FAIL("no error for --lang xx");
  } catch (const eulerstack::Error& e) {
    const Diagnostic& d = e.first();
    CHECK(d.category == "UsageError");
    CHECK(d.id == "cli.unsupported_language");
    const std::string text = render(d, "en");
    CHECK(test::contains(text, "unsupported language 'xx'"));
    CHECK(test::contains(text, "Fix: Use one of: en, ko, zh, ja, es."));
  }
}

TEST_CASE("a plugin's catalogs are checked, then render in every language like core's") {
  using eulerstack::PluginCatalog;
  std::string why;
  const PluginCatalog good[] = {
      {"en", R"({"unit_plugin.odd": {"msg": "{block}: {n} is odd", "fix": "Use an even n.", "see": "docs/X.md"}})"},
      {"ko", R"({"unit_plugin.odd": {"msg": "{block}: {n}은(는) 홀수입니다", "fix": "짝수 n을 쓰세요."}})"},
  };
  auto messages = eulerstack::parse_plugin_messages("unit_plugin", good, 2, why);
  REQUIRE_MESSAGE(messages, why);
  CHECK(message_text("ko", "unit_plugin.odd", "msg") == "unit_plugin.odd");  // not added yet
  eulerstack::add_plugin_messages(*messages);
  const Diagnostic d = make_error("CompatibilityError", "unit_plugin.odd", {{"block", "b"}, {"n", "3"}}, {"s.yml", 2, 4});
  CHECK(render(d, "ko") == "s.yml:2:4: CompatibilityError: b: 3은(는) 홀수입니다\n해결 방법: 짝수 n을 쓰세요.\n참고: docs/X.md\n");
  CHECK(test::contains(render(d, "zh"), "b: 3 is odd"));  // a language the plugin lacks falls back to English

  const PluginCatalog other_prefix[] = {{"en", R"({"core.odd": {"msg": "x"}})"}};
  CHECK_FALSE(eulerstack::parse_plugin_messages("unit_plugin", other_prefix, 1, why));
  CHECK(test::contains(why, "does not start with 'unit_plugin.'"));
  const PluginCatalog no_english[] = {{"ko", R"({"unit_plugin.odd": {"msg": "x"}})"}};
  CHECK_FALSE(eulerstack::parse_plugin_messages("unit_plugin", no_english, 1, why));
  CHECK(why == "no English catalog");
  const PluginCatalog unknown_language[] = {{"fr", R"({"unit_plugin.odd": {"msg": "x"}})"}};
  CHECK_FALSE(eulerstack::parse_plugin_messages("unit_plugin", unknown_language, 1, why));
  CHECK(test::contains(why, "'fr'"));
  const PluginCatalog no_text[] = {{"en", R"({"unit_plugin.odd": {"fix": "x"}})"}};
  CHECK_FALSE(eulerstack::parse_plugin_messages("unit_plugin", no_text, 1, why));
  const PluginCatalog not_json[] = {{"en", "{"}};
  CHECK_FALSE(eulerstack::parse_plugin_messages("unit_plugin", not_json, 1, why));
  CHECK(eulerstack::parse_plugin_messages("unit_plugin", nullptr, 0, why));  // no messages at all is fine
}
