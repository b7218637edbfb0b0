// PLACEHOLDER (lead): replaced by the helper that owns check-data.
#include "commands.h"
#include "yolonas/error.h"
namespace yolonas::cli { int cmd_check_data(const Args&) { throw Error("check-data: not built yet"); } }
