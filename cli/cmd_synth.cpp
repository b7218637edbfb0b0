// PLACEHOLDER (lead): replaced by the helper that owns synth.
#include "commands.h"
#include "yolonas/error.h"
namespace yolonas::cli { int cmd_synth(const Args&) { throw Error("synth: not built yet"); } }
