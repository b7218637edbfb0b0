// Process facts for reports: peak resident memory.
#pragma once

namespace yolonas {

// Peak resident set size of this process so far, in MiB (getrusage ru_maxrss).
double peak_rss_mib();

}  // namespace yolonas
