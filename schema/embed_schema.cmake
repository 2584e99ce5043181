# Writes OUTPUT, a C++ file defining agentlog::EventsSchemaText() (agentlog/event.h)
# with the text of INPUT (events.fbs), for schema-driven JSON rendering.
file(READ "${INPUT}" schema_text)
file(WRITE "${OUTPUT}" "// Generated from schema/events.fbs by schema/embed_schema.cmake. Do not edit.
#include \"agentlog/event.h\"
namespace agentlog {
std::string_view EventsSchemaText() {
  static constexpr std::string_view kText = R\"agentlog_fbs(${schema_text})agentlog_fbs\";
  return kText;
}
}  // namespace agentlog
")
