#include "eulerstack/bounded_json.hpp"

#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace eulerstack {
namespace {

// Builds the value from SAX events. nlohmann's own DOM builders insert each
// key through the ordered object's linear search (and the callback builder
// rescans the parent after every child), which is quadratic in the number of
// keys; here a key is appended to the object's vector and checked for
// repetition in a hash set.
class LinearBuilder {
 public:
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  LinearBuilder(std::size_t max_depth, std::string& why) : max_depth_(max_depth), why_(why) {}

  Json take() { return std::move(root_); }

  bool null() { return place(Json()); }
  bool boolean(bool value) { return place(Json(value)); }
  bool number_integer(number_integer_t value) { return place(Json(value)); }
  bool number_unsigned(number_unsigned_t value) { return place(Json(value)); }
  bool number_float(number_float_t value, const string_t&) { return place(Json(value)); }
  bool string(string_t& value) { return place(Json(std::move(value))); }
  bool binary(binary_t& value) { return place(Json::binary(std::move(value))); }

  bool start_object(std::size_t) { return open(Json::object()); }
  bool start_array(std::size_t) { return open(Json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(string_t& value) {
    if (!open_.back().keys.insert(value).second) {
      why_ = "the key '" + value + "' appears twice in one object";
      return false;
    }
    key_ = std::move(value);
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    if (why_.empty()) why_ = e.what();
    return false;
  }

 private:
  struct Open {
    Json* value;
    std::unordered_set<std::string> keys;  // objects only
  };

  // Puts a finished value where it belongs; returns where it now lives.
  Json* put(Json&& value) {
    if (open_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Json& parent = *open_.back().value;
    if (parent.is_array()) {
      auto& items = parent.get_ref<Json::array_t&>();
      items.push_back(std::move(value));
      return &items.back();
    }
    auto& members = parent.get_ref<Json::object_t&>();
    members.Container::emplace_back(std::move(key_), std::move(value));
    return &members.Container::back().second;
  }

  bool place(Json&& value) {
    put(std::move(value));
    return true;
  }

  bool open(Json&& empty) {
    if (open_.size() >= max_depth_) {
      why_ = "it nests deeper than " + std::to_string(max_depth_) + " levels";
      return false;
    }
    Json* at = put(std::move(empty));
    open_.push_back({at, {}});
    return true;
  }

  bool close() {
    open_.pop_back();
    return true;
  }

  std::size_t max_depth_;
  std::string& why_;
  Json root_;
  std::vector<Open> open_;
  std::string key_;
};

}  // namespace

std::optional<Json> parse_bounded_json(std::string_view text, std::size_t max_depth, std::string& why) {
  why.clear();
  LinearBuilder builder(max_depth, why);
  try {
    if (Json::sax_parse(text.begin(), text.end(), &builder)) return builder.take();
  } catch (const Json::exception& e) {
    why = e.what();
  }
  if (why.empty()) why = "it is not JSON";
  return std::nullopt;
}

}  // namespace eulerstack
