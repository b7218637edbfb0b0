// placeholder, replaced below
#include "commands.h"
namespace yolonas::cli { int cmd_benchmark(const Args&) { return 0; } }
