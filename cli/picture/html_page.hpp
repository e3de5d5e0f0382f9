#pragma once
// explain --format html: one self-contained page (no scripts, no external
// files) with the SVG picture and the text report.

#include <string>

namespace eulerstack::cli::picture {

std::string html_page(const std::string& title, const std::string& lang, const std::string& svg,
                      const std::string& report_heading, const std::string& report);

}  // namespace eulerstack::cli::picture
