#include "html_page.hpp"

#include <fmt/format.h>

#include "svg_text.hpp"

namespace eulerstack::cli::picture {

std::string html_page(const std::string& title, const std::string& lang, const std::string& svg,
                      const std::string& report_heading, const std::string& report) {
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n"
      "body {{ margin: 24px; background: #ffffff; color: #1d2433; font-family: 'DejaVu Sans', 'Noto Sans', Helvetica, Arial, sans-serif; }}\n"
      "figure {{ margin: 0; overflow-x: auto; }}\n"
      "h2 {{ font-size: 15px; margin: 24px 0 8px; }}\n"
      "pre {{ background: #f5f6f9; padding: 12px; font-size: 12px; overflow-x: auto; }}\n"
      "</style>\n</head>\n<body>\n<main>\n<figure>\n{}</figure>\n<h2>{}</h2>\n<pre class=\"report\">{}</pre>\n</main>\n</body>\n</html>\n",
      escape(lang), escape(title), svg, escape(report_heading), escape(report));
}

}  // namespace eulerstack::cli::picture
