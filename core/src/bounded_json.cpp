#include "eulerstack/bounded_json.hpp"

#include <string>

namespace eulerstack {
namespace {

struct TooDeep {};

}  // namespace

std::optional<Json> parse_bounded_json(std::string_view text, std::size_t max_depth, std::string& why) {
  const auto guard = [max_depth](int depth, Json::parse_event_t event, Json&) {
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
        static_cast<std::size_t>(depth) >= max_depth)
      throw TooDeep{};
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), guard);
  } catch (const TooDeep&) {
    why = "it nests deeper than " + std::to_string(max_depth) + " levels";
  } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
    why = e.what();
  }
  return std::nullopt;
}

}  // namespace eulerstack
