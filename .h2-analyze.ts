import { readFileSync, readdirSync } from 'node:fs';
import { decodeAdapter } from './packages/lora-core/src/protocol/adapter-codec';
import type { AdapterState } from './packages/lora-core/src/lora/adapter-state';
import { deltaCosine, deltaNorm, leaveOneOutCosines } from './packages/lora-core/src/federated/robust';

const dir = '/tmp/h2dump';
const files = readdirSync(dir).filter((f) => f.endsWith('.bin'));
const byRun = new Map<string, { name: string; d: AdapterState }[]>();
for (const f of files) {
  const m = /^(run-[^-]+-[^-]+)-r(\d+)-(.+)\.bin$/.exec(f)!;
  const key = `${m[1]} r${m[2]}`;
  const d = decodeAdapter(new Uint8Array(readFileSync(`${dir}/${f}`)), { copy: true });
  (byRun.get(key) ?? byRun.set(key, []).get(key)!).push({ name: m[3]!.slice(0, 16), d });
}
const only = (d: AdapterState, keep: (k: string) => boolean): AdapterState => new Map([...d].filter(([k]) => keep(k)));
for (const [key, ups] of [...byRun].sort()) {
  console.log(`== ${key}`);
  for (const part of ['lora', 'head', 'all'] as const) {
    const sel = ups.map((u) => ({ id: u.name, numSamples: 1, delta: part === 'all' ? u.d : only(u.d, (k) => (part === 'head' ? k === 'head' : k !== 'head')) }));
    const loo = leaveOneOutCosines(sel.map((s) => ({ ...s })));
    const pair = sel.map((a) => sel.map((b) => deltaCosine(a.delta, b.delta).toFixed(3)).join(' '));
    console.log(`  ${part}: norms ${sel.map((s) => deltaNorm(s.delta).toFixed(3)).join(' ')}; loo ${loo.map((x) => x.toFixed(4)).join(' ')}`);
    for (let i = 0; i < sel.length; i++) console.log(`    ${sel[i]!.id} ${pair[i]}`);
  }
  const u0 = ups[0]!.d;
  console.log(`  blocks: ${[...u0].map(([k, t]) => `${k}:${[...t].map(([n, a]) => `${n}[${a.data.length}]`).join(',')}`).join('  ')}`);
}
