/** The start-run form's text fields ⇄ RunParams, validated with the contract's own schema. */
import type { RunParams } from '../../src/dashboard/contract';
import { runParamsSchema } from '../../src/dashboard/contract';

export type RunForm = Record<keyof RunParams, string>;

export function formFromParams(p: RunParams): RunForm {
  return {
    strategy: p.strategy,
    rounds: String(p.rounds),
    devicesExpected: String(p.devicesExpected),
    groups: p.groups === undefined ? '' : String(p.groups),
    localSteps: String(p.localSteps),
    batchSize: String(p.batchSize),
    learningRate: String(p.learningRate),
    headLearningRate: String(p.headLearningRate),
    seed: String(p.seed),
    roundTimeoutS: String(p.roundTimeoutS),
    minReportFraction: String(p.minReportFraction),
    robust: p.robust,
    trimFraction: String(p.trimFraction),
    clipNorm: p.clipNorm === null ? '' : String(p.clipNorm),
    budgetRule: p.budgetRule ?? '',
    memberDepth: p.memberDepth ?? '',
    weighting: p.weighting ?? '',
    loraAggregation: p.loraAggregation ?? '',
  };
}

/** A number where the text is one; otherwise the text itself, so the schema names the field. */
function numeric(text: string): number | string {
  const trimmed = text.trim();
  return trimmed !== '' && Number.isFinite(Number(trimmed)) ? Number(trimmed) : trimmed;
}

const optionalChoice = (key: string, text: string): Record<string, string> => (text.trim() === '' ? {} : { [key]: text.trim() });

export type ParsedForm = { ok: true; params: RunParams } | { ok: false; errors: Partial<Record<keyof RunParams, string>> };

export function paramsFromForm(f: RunForm): ParsedForm {
  const clip = f.clipNorm.trim();
  const raw = {
    strategy: f.strategy,
    rounds: numeric(f.rounds),
    devicesExpected: numeric(f.devicesExpected),
    ...(f.groups.trim() === '' ? {} : { groups: numeric(f.groups) }),
    localSteps: numeric(f.localSteps),
    batchSize: numeric(f.batchSize),
    learningRate: numeric(f.learningRate),
    headLearningRate: numeric(f.headLearningRate),
    seed: numeric(f.seed),
    roundTimeoutS: numeric(f.roundTimeoutS),
    minReportFraction: numeric(f.minReportFraction),
    robust: f.robust,
    trimFraction: numeric(f.trimFraction),
    clipNorm: clip === '' || clip === 'none' ? null : clip === 'auto' ? 'auto' : numeric(clip),
    // Empty: the strategy's default.
    ...optionalChoice('budgetRule', f.budgetRule),
    ...optionalChoice('memberDepth', f.memberDepth),
    ...optionalChoice('weighting', f.weighting),
    ...optionalChoice('loraAggregation', f.loraAggregation),
  };
  const parsed = runParamsSchema.safeParse(raw);
  if (parsed.success) return { ok: true, params: parsed.data };
  const errors: Partial<Record<keyof RunParams, string>> = {};
  for (const issue of parsed.error.issues) {
    const key = issue.path[0] as keyof RunParams | undefined;
    if (key !== undefined && errors[key] === undefined) errors[key] = issue.message;
  }
  return { ok: false, errors };
}
