// Deterministic random numbers, the same with every compiler and standard library.
//   splitmix64 / mix_seed: hash seeds (the loader seeds each sample from (seed, epoch, position));
//   SplitMix64: a small stream generator (synth);
//   Rng (std::mt19937) with rand_uniform / rand_int / rand_chance: the augmentations' draws. The
//   std::uniform_*_distribution classes are not used: their output differs between libraries.
#pragma once
#include <cstdint>
#include <random>

namespace yolonas {

// The splitmix64 finalizer: a bijective 64-bit mix.
inline uint64_t mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Sebastiano Vigna's splitmix64: the output for state x (x + golden gamma, mixed).
inline uint64_t splitmix64(uint64_t x) { return mix64(x + 0x9E3779B97F4A7C15ull); }

// Mixes (seed, a, b) into one 64-bit value.
inline uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b) {
  return splitmix64(splitmix64(splitmix64(seed) ^ a) ^ b);
}

// The splitmix64 stream: state += golden gamma, output = mix(state).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    const uint64_t out = splitmix64(state_);
    state_ += 0x9E3779B97F4A7C15ull;
    return out;
  }
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int below(int n) { return n <= 1 ? 0 : static_cast<int>(next() % static_cast<uint64_t>(n)); }  // [0, n)
  bool chance(double p) { return uniform() < p; }

 private:
  uint64_t state_;
};

using Rng = std::mt19937;

// An mt19937 seeded portably from a 64-bit value (std::seed_seq of its two halves).
inline Rng make_rng(uint64_t seed) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  return Rng(seq);
}

double rand_uniform(Rng& rng, double lo, double hi);  // [lo, hi), 53-bit resolution
int rand_int(Rng& rng, int lo, int hi);               // [lo, hi], both inclusive (Python random.randint)
bool rand_chance(Rng& rng, double p);                 // true with probability p; always consumes one draw

}  // namespace yolonas
