// tools/agentlog_main.cc: the `agentlog` command line. The parser and the
// dispatch are in tools/command_line.cc (the fuzz targets run them too);
// the commands themselves are in tools/*_command(s).cc, example_run.cc and
// demo_*.cc, and use nothing but the public API (include/agentlog/).
#include "tools/command_line.h"

int main(int argc, char** argv) { return agentlog_tools::RunCommandLine(argc, argv); }
