/**
 * Aggregation that is exact in the LoRA product. Averaging A and B separately gives
 * mean(A_i) · mean(B_i), not mean(A_i · B_i) — the cross terms A_i B_j (i ≠ j) enter. Here the
 * aggregate of a block's target is the best rank-r factorisation of the combined product
 *     M = P_0 + Σ_i c_i (A_i B_i − P_0),   A_i = A_0 + ΔA_i, B_i = B_0 + ΔB_i, P_0 = A_0 B_0,
 * (c_i = the update's normalised weight, Σ c_i = 1 for sample weights), returned as a delta from
 * (A_0, B_0). When rank(M) ≤ r this is exact; otherwise it is the Eckart–Young optimum at rank r
 * (re-factorising the averaged product — FedEx-LoRA instead folds the residual into the frozen
 * weight, which our wire format cannot carry: the residual is a dense in × out matrix per target).
 * The factors are balanced (A = U Σ^½, B = Σ^½ Vᵀ), so their gauge differs from the inputs'.
 *
 * M is never formed: the top-r subspace comes from block subspace iteration on the factored form
 * (M x = L (R x), with L = [c_i A_i] and R = [B_i] stacked), O((in + out) · n · r²) per iteration,
 * seeded, so results are deterministic.
 */
import type { AdapterState, BlockKey, NamedArray } from '../lora/adapter-state';

export interface Factor {
  /** in × r, row-major. */
  readonly A: Float64Array;
  /** r × out, row-major. */
  readonly B: Float64Array;
  readonly coefficient: number;
}

const ITERATIONS = 24;

/** Best rank-r (A, B) of Σ coefficient_k A_k B_k. */
export function refactorize(factors: readonly Factor[], inDim: number, rank: number, outDim: number): { A: Float64Array; B: Float64Array } {
  const n = factors.length;
  // apply M to X (out × r) → in × r ; apply Mᵀ to Y (in × r) → out × r
  const tmp = new Float64Array(rank * rank);
  const applyM = (X: Float64Array): Float64Array => {
    const Y = new Float64Array(inDim * rank);
    for (let k = 0; k < n; k++) {
      const { A, B, coefficient } = factors[k]!;
      // T = B X (r × r)
      tmp.fill(0);
      for (let a = 0; a < rank; a++) for (let o = 0; o < outDim; o++) {
        const b = B[a * outDim + o]!;
        if (b === 0) continue;
        for (let c = 0; c < rank; c++) tmp[a * rank + c]! += b * X[o * rank + c]!;
      }
      for (let i = 0; i < inDim; i++) for (let a = 0; a < rank; a++) {
        const v = coefficient * A[i * rank + a]!;
        if (v === 0) continue;
        for (let c = 0; c < rank; c++) Y[i * rank + c]! += v * tmp[a * rank + c]!;
      }
    }
    return Y;
  };
  const applyMT = (Y: Float64Array): Float64Array => {
    const X = new Float64Array(outDim * rank);
    for (let k = 0; k < n; k++) {
      const { A, B, coefficient } = factors[k]!;
      // T = Aᵀ Y (r × r)
      tmp.fill(0);
      for (let i = 0; i < inDim; i++) for (let a = 0; a < rank; a++) {
        const v = coefficient * A[i * rank + a]!;
        if (v === 0) continue;
        for (let c = 0; c < rank; c++) tmp[a * rank + c]! += v * Y[i * rank + c]!;
      }
      for (let o = 0; o < outDim; o++) for (let a = 0; a < rank; a++) {
        const b = B[a * outDim + o]!;
        if (b === 0) continue;
        for (let c = 0; c < rank; c++) X[o * rank + c]! += b * tmp[a * rank + c]!;
      }
    }
    return X;
  };
  // Seeded start.
  let seed = 0x9e3779b9;
  const rand = () => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0;
    return ((seed >>> 0) / 4294967296) * 2 - 1;
  };
  let V: Float64Array = new Float64Array(outDim * rank).map(() => rand());
  orthonormalize(V, outDim, rank);
  let U: Float64Array;
  for (let t = 0; t < ITERATIONS; t++) {
    U = applyM(V);
    orthonormalize(U, inDim, rank);
    V = applyMT(U);
    orthonormalize(V, outDim, rank);
  }
  U = applyM(V);
  orthonormalize(U, inDim, rank);
  // K = Uᵀ M (r × out) = (Mᵀ U)ᵀ ; M ≈ U K. Balance via the eigen-decomposition of K Kᵀ.
  const KT = applyMT(U); // out × r
  const G = new Float64Array(rank * rank);
  for (let o = 0; o < outDim; o++) for (let a = 0; a < rank; a++) for (let c = 0; c < rank; c++) G[a * rank + c]! += KT[o * rank + a]! * KT[o * rank + c]!;
  const { values, vectors } = jacobiEigen(G, rank); // K Kᵀ = W Σ² Wᵀ
  const A = new Float64Array(inDim * rank);
  const B = new Float64Array(rank * outDim);
  for (let c = 0; c < rank; c++) {
    const sigma = Math.sqrt(Math.max(0, values[c]!));
    const s = Math.sqrt(sigma);
    for (let i = 0; i < inDim; i++) {
      let v = 0;
      for (let a = 0; a < rank; a++) v += U[i * rank + a]! * vectors[a * rank + c]!;
      A[i * rank + c] = v * s;
    }
    if (sigma > 0) {
      // B row c = Σ^{-½} wᵀ K
      for (let o = 0; o < outDim; o++) {
        let v = 0;
        for (let a = 0; a < rank; a++) v += vectors[a * rank + c]! * KT[o * rank + a]!;
        B[c * outDim + o] = v / s;
      }
    }
  }
  return { A, B };
}

/** Modified Gram–Schmidt on the columns of a rows × cols row-major matrix, in place; a null column stays 0. */
function orthonormalize(M: Float64Array, rows: number, cols: number): void {
  for (let c = 0; c < cols; c++) {
    for (let p = 0; p < c; p++) {
      let dot = 0;
      for (let i = 0; i < rows; i++) dot += M[i * cols + c]! * M[i * cols + p]!;
      for (let i = 0; i < rows; i++) M[i * cols + c]! -= dot * M[i * cols + p]!;
    }
    let norm = 0;
    for (let i = 0; i < rows; i++) norm += M[i * cols + c]! ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < rows; i++) M[i * cols + c] = norm > 1e-300 ? M[i * cols + c]! / norm : 0;
  }
}

/** Cyclic Jacobi for a small symmetric matrix: eigenvalues (descending) and eigenvectors as columns. */
function jacobiEigen(S: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(S);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => a[y * n + y]! - a[x * n + x]!);
  const values = Float64Array.from(order, (i) => a[i * n + i]!);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src]!;
  });
  return { values, vectors };
}

/**
 * Replaces, in `mean` (a block-wise weighted mean of the updates' deltas), every LoRA pair
 * "<t>.A" / "<t>.B" by the exact-product aggregate of the updates: base + Σ c_i Δ(A_i B_i),
 * refactorised at the base's rank. `coefficients(key)` gives the updates (with their
 * coefficients c_i) that carry that block. Tensors that are not LoRA pairs keep the mean.
 */
export function exactLoraBlocks(
  mean: AdapterState,
  base: AdapterState,
  contributorsOf: (key: BlockKey) => ReadonlyArray<{ readonly delta: AdapterState; readonly coefficient: number }>,
): AdapterState {
  const out: AdapterState = new Map();
  for (const [key, tensors] of mean) {
    const baseBlock = base.get(key);
    const block = new Map(tensors);
    if (baseBlock !== undefined) {
      for (const name of tensors.keys()) {
        if (!name.endsWith('.A')) continue;
        const target = name.slice(0, -2);
        const bName = `${target}.B`;
        const a0 = baseBlock.get(name);
        const b0 = baseBlock.get(bName);
        if (a0 === undefined || b0 === undefined || !tensors.has(bName) || a0.shape.length !== 2 || b0.shape.length !== 2) continue;
        const [inDim, rank] = a0.shape as [number, number];
        const outDim = b0.shape[1]!;
        const contributors = contributorsOf(key);
        const factors: Factor[] = [];
        let sum = 0;
        for (const c of contributors) {
          const dA = c.delta.get(key)!.get(name)!.data;
          const dB = c.delta.get(key)!.get(bName)!.data;
          factors.push({ A: Float64Array.from(a0.data, (x, i) => x + dA[i]!), B: Float64Array.from(b0.data, (x, i) => x + dB[i]!), coefficient: c.coefficient });
          sum += c.coefficient;
        }
        if (Math.abs(1 - sum) > 1e-12) factors.push({ A: Float64Array.from(a0.data), B: Float64Array.from(b0.data), coefficient: 1 - sum });
        const { A, B } = refactorize(factors, inDim, rank, outDim);
        block.set(name, { shape: [...a0.shape], data: Float32Array.from(A, (x, i) => x - a0.data[i]!) } satisfies NamedArray);
        block.set(bName, { shape: [...b0.shape], data: Float32Array.from(B, (x, i) => x - b0.data[i]!) } satisfies NamedArray);
      }
    }
    out.set(key, block);
  }
  return out;
}
