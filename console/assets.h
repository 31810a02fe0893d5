// The console's templates and static files, compiled into the binary by
// console/embed_assets.cmake (generated console_assets.cc), by file name:
// "layout.mustache", "console.css", "console.js".
#ifndef KETENPOORT_CONSOLE_ASSETS_H_
#define KETENPOORT_CONSOLE_ASSETS_H_

#include <map>
#include <string_view>

namespace kp::console {

const std::map<std::string_view, std::string_view>& Assets();

}  // namespace kp::console

#endif  // KETENPOORT_CONSOLE_ASSETS_H_
