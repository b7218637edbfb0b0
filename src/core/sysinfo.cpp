#include "yolonas/core/sysinfo.h"

#include <sys/resource.h>

namespace yolonas {

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;  // Linux reports KiB
}

}  // namespace yolonas
