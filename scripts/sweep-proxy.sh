#!/bin/sh
# Accuracy-proxy sweep for the planner's exponents (issue 12): HierFedLoRA alone in the quick
# setting, one seed, α = 0.1, same pinned step-time table and target as the quick comparison.
# Usage: [PAIRS='dα:γ …'] sh scripts/sweep-proxy.sh [extra compare flags]; one final line per (α, γ).
set -e
for pair in ${PAIRS:-0.25:0.5 0.5:0.5 1:0.5 0.5:0.25 0.5:1}; do
  de=${pair%%:*}
  fe=${pair##*:}
  {
    out=$(npx tsx packages/lora-core/bin/compare.ts --quick --alphas 0.1 --seeds 42 --strategies hierfedlora \
      --ms-per-step 311,468,743,861 --target 0.503 --depth-exponent "$de" --frequency-exponent "$fe" \
      --out ".cache/sweep/d$de-f$fe" "$@" 2>&1)
    plan=$(printf '%s\n' "$out" | grep 'hierfedlora: ' | head -1)
    final=$(printf '%s\n' "$out" | grep 'rounds · final acc' | head -1)
    echo "depthExponent $de frequencyExponent $fe |$plan |$final"
  }
done
