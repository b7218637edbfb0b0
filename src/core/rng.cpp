#include "yolonas/core/rng.h"

namespace yolonas {

double rand_uniform(Rng& rng, double lo, double hi) {
  // Two 32-bit outputs -> a double in [0, 1) with 53 random bits (MT's genrand_res53).
  const uint64_t a = rng() >> 5, b = rng() >> 6;
  const double u = (static_cast<double>(a) * 67108864.0 + static_cast<double>(b)) / 9007199254740992.0;
  return lo + (hi - lo) * u;
}

int rand_int(Rng& rng, int lo, int hi) {
  if (hi <= lo) return lo;
  const uint64_t range = static_cast<uint64_t>(static_cast<int64_t>(hi) - lo) + 1;
  // Rejection sampling: no modulo bias, and no dependence on the standard library's distributions.
  const uint64_t limit = (uint64_t{1} << 32) - ((uint64_t{1} << 32) % range);
  uint64_t x;
  do x = rng();
  while (x >= limit);
  return static_cast<int>(lo + static_cast<int64_t>(x % range));
}

bool rand_chance(Rng& rng, double p) { return rand_uniform(rng, 0.0, 1.0) < p; }

}  // namespace yolonas
