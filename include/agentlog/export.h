// agentlog/export.h: what libagentlog exports.
//
// The library is built with -fvisibility=hidden: a symbol is visible to a
// program that links it only if its declaration in include/agentlog/ carries
// AGENTLOG_EXPORT. So the installed library's symbol table is the public
// contract and nothing else (tests/exported_symbols_test.sh checks it), and
// no program can come to depend on the engine's insides.
#ifndef AGENTLOG_EXPORT_H_
#define AGENTLOG_EXPORT_H_

#define AGENTLOG_EXPORT [[gnu::visibility("default")]]

#endif  // AGENTLOG_EXPORT_H_
