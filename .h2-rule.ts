import { readFileSync, readdirSync } from 'node:fs';
import { decodeAdapter } from './packages/lora-core/src/protocol/adapter-codec';
import type { AdapterState, NamedArray } from './packages/lora-core/src/lora/adapter-state';
import { robustAggregateWithReport, formatRobustReport } from './packages/lora-core/src/federated/robust';
import { adamCoordinateBound } from './packages/lora-core/src/protocol/adapter-validation';
import { seededRandom } from './packages/lora-core/src/federated/random';

const dir = '/tmp/h2dump';
const runs = new Map<string, { id: string; numSamples: number; delta: AdapterState }[]>();
for (const f of readdirSync(dir).filter((x) => x.endsWith('.bin'))) {
  const m = /^(run-[^-]+-[^-]+)-r(\d+)-(.+)\.bin$/.exec(f)!;
  const key = `${m[1]} r${m[2]}`;
  (runs.get(key) ?? runs.set(key, []).get(key)!).push({ id: m[3]!.slice(0, 12), numSamples: 700, delta: decodeAdapter(new Uint8Array(readFileSync(`${dir}/${f}`)), { copy: true }) });
}
const lr = Number(process.env.LR ?? 0.001);
const random = seededRandom(7);
function inflate(like: AdapterState): AdapterState {
  const out: AdapterState = new Map();
  for (const [k, ts] of like) {
    const v = 0.9 * adamCoordinateBound(k === 'head' ? 0.03 : lr, 4);
    const b = new Map<string, NamedArray>();
    for (const [n, t] of ts) b.set(n, { shape: [...t.shape], data: Float32Array.from(t.data, () => (random() < 0.5 ? -v : v)) });
    out.set(k, b);
  }
  return out;
}
for (const [key, ups] of [...runs].sort()) {
  console.log(key, formatRobustReport(robustAggregateWithReport(ups, { rule: 'cosine-mean', clipNorm: 'auto' }).report));
  if (ups.length === 3) {
    const withInf = [...ups, { id: 'INFLATE', numSamples: 700, delta: inflate(ups[0]!.delta) }];
    console.log(key, '+inflate', formatRobustReport(robustAggregateWithReport(withInf, { rule: 'cosine-mean', clipNorm: 'auto' }).report));
  }
}
