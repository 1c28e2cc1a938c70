import { seededRandom } from './packages/lora-core/src/federated/random';
import { leaveOneOutAgreement, agreeingUpdates } from './packages/lora-core/src/federated/robust';
import { state } from './packages/lora-core/test/federated-fixtures';
const DIM = 20000;
for (const shared of [0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3]) {
  const random = seededRandom(11);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const common = Array.from({ length: DIM }, gauss);
  const h = (k: number) => Array.from({ length: DIM }, (_, i) => shared * common[i]! + gauss());
  const up = (id: string, v: number[]) => ({ deviceId: id, numSamples: 1, delta: state({ '1': { A: v } }) });
  const hs = [0, 1, 2].map((k) => up(`h${k}`, h(k)));
  const f = up('flip', h(3).map((x) => -x));
  const all = [...hs, f];
  console.log(shared, leaveOneOutAgreement(all).map((a) => `${a.cosine.toFixed(3)}/${(3 * a.sigma).toFixed(3)}`).join(' '), agreeingUpdates(all).map((u) => u.deviceId).join(','));
}
