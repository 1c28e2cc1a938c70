/** Command-line settings of the coordinator, and the values derived from them. */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { DEFAULT_TRIM_FRACTION, isRobustRule, isStrategyName, ROBUST_RULES, STRATEGY_NAMES } from './core';
import type { RobustOptions, StrategyName } from './core';
import { DEFAULT_CHECKPOINT_RETENTION } from './state/retention';
import type { CheckpointRetention } from './state/retention';

export interface CoordinatorConfig {
  readonly port: number;
  readonly host: string;
  /** Devices must present it to join. */
  readonly token: string;
  /** True when no --token was given and one was generated (then it is printed once). */
  readonly tokenGenerated: boolean;
  /** Needed for the dashboard's controls and the admin API. */
  readonly adminToken: string;
  readonly adminTokenGenerated: boolean;
  /** Pick up the state's unfinished run of the same task at start (default true; --fresh turns it off). */
  readonly resume: boolean;
  readonly strategy: StrategyName;
  /** Global rounds to train. */
  readonly rounds: number;
  /** Devices to wait for before round 1; also the number of fleet partitions. */
  readonly devicesExpected: number;
  /** Fleet partitions (simulated devices' data shares); default devicesExpected. */
  readonly partitions: number;
  /** Dirichlet concentration of the fleet's label skew. */
  readonly alpha: number;
  readonly seed: number;
  /** 'memory' or an SQLite file path. */
  readonly db: string;
  /** Fixed number of device groups for grouping strategies; undefined = about one group per 5 devices. */
  readonly groups: number | undefined;
  /** Local steps per intra-group round (the strategy's I). */
  readonly localSteps: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly headLearningRate: number;
  readonly rank: number;
  /** Keep the K most frequent classes of the dataset. */
  readonly topK: number;
  /** Optional cap on samples per class (smaller, faster demo runs). */
  readonly maxPerClass: number | undefined;
  /** A round waits at most this long for uploads; devices past it are left out of that round. */
  readonly roundTimeoutMs: number;
  /** A round counts only when at least this fraction of its planned devices reported; else it is run again. */
  readonly minReportFraction: number;
  /** How long a device that disconnected mid-work may take to come back and get its work again. */
  readonly rejoinGraceMs: number;
  /** Uploads above this multiple of the Adam-step norm bound are refused; null = no norm check. */
  readonly normBoundFactor: number | null;
  /** Exit the process once the run has finished (demo, tests). */
  readonly exitWhenDone: boolean;
  /** Robust combination of device updates; undefined = the plain sample-weighted mean. */
  readonly robust: RobustOptions | undefined;
  /** HierFedLoRA's planner and aggregation choices (--budget-rule, --member-depth, --weighting, --lora-agg); absent: the strategy's defaults. */
  readonly method?: MethodOptions;
  /** Own-data devices weigh at most this × the round's median declared sample count; null = off. */
  readonly sampleWeightCap: number | null;
  /** Attempts in a row a round may miss its report fraction before the run fails. */
  readonly maxRoundAttempts: number;
  /** How long a resumed run waits for its expected devices before going on with those present. */
  readonly resumeWaitMs: number;
  /** Per client address: devices (hello'd connections) at once, and joins per minute. */
  readonly maxDevicesPerAddress: number;
  readonly maxJoinsPerMinute: number;
  /** Open device connections per address and in total. */
  readonly maxConnectionsPerAddress: number;
  readonly maxConnections: number;
  /** Fleet slots of devices gone longer than this are given to new tabs. */
  readonly slotGraceMs: number;
  /** Admit devices only with single-use invites (POST /api/admin/invites), not the shared join token. */
  readonly invitesOnly: boolean;
  /** --trust-proxy: reverse proxies whose X-Forwarded-For names the client for per-address limits. */
  readonly trustedProxies: readonly string[];
  /** Serve page, dashboard and Socket.IO over TLS (phones need a secure context for WebGPU, threads, wake lock). */
  readonly https: boolean;
  /** --cert/--key: the operator's PEM certificate and key; undefined = a self-signed one kept in the data folder. */
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  /** --task: a built-in task name or a task file path (default "wordnet"); undefined with --train/--eval. */
  readonly task: string | undefined;
  /** --train / --eval shorthand (labels from the training file). */
  readonly trainFile: string | undefined;
  readonly evalFile: string | undefined;
  /** Rows scored per evaluation ("all" = the whole set); undefined = the task's (default 2000). */
  readonly evalRows: number | 'all' | undefined;
  /** Causal-LM tasks: a PEFT LoRA adapter directory the run starts from. */
  readonly initAdapter?: string | undefined;
  /** The run flags given on the command line (a task's defaults fill in the others). */
  readonly explicit: readonly string[];
  /** Checkpoints kept per run: the last N (Infinity: all) and the best-scoring one. */
  readonly checkpointRetention: CheckpointRetention;
  /** Disconnected devices leave the live registry (and the dashboard's list) after this long. */
  readonly evictAfterMs: number;
  /** --redis URL: join a cluster of coordinators sharing one run (README "Scale out"); undefined = one node. */
  readonly redis?: string;
  /** --cluster NAME: the cluster's key prefix in Redis (default "default"). */
  readonly cluster?: string;
  /** --node-id ID: this node's stable id (default: host name + random suffix). */
  readonly nodeId?: string;
  /** --public-url URL: where devices reach this node (default: its local/LAN URL). */
  readonly publicUrl?: string;
}

/** Run flags a task file's `defaults` may set when the command line does not. */
export const TASK_DEFAULT_FLAGS = { batchSize: 'batch-size', learningRate: 'lr', headLearningRate: 'head-lr', localSteps: 'local-steps' } as const;

/** The config with the task's defaults in place of the built-in ones, for flags not given. */
export function withTaskDefaults(
  config: CoordinatorConfig,
  defaults: Partial<Record<keyof typeof TASK_DEFAULT_FLAGS, number>>,
): CoordinatorConfig {
  const out: Record<string, unknown> = { ...config };
  for (const [key, flag] of Object.entries(TASK_DEFAULT_FLAGS)) {
    const v = defaults[key as keyof typeof TASK_DEFAULT_FLAGS];
    if (v !== undefined && !config.explicit.includes(flag)) out[key] = v;
  }
  return out as unknown as CoordinatorConfig;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export const USAGE = `Usage: coordinator [options]
  --task T            built-in task (wordnet) or a task file (JSON, see docs/tasks.md) (default wordnet)
  --train FILE        shorthand for a task: JSONL/CSV training rows (text, label); labels from this file
  --eval FILE         with --train: held-out rows scored after every round (default: a seeded 10% holdout)
  --eval-rows N|all   rows scored per evaluation: a seeded stratified sample of at most N (default 2000)
  --init-adapter DIR  causal-LM tasks: start from a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors)
  --port N            listen port (default 8080; 0 = any free port)
  --host H            listen address (default 0.0.0.0, reachable from phones on the LAN)
  --token T           join token (default: generated and printed once)
  --admin-token T     admin token for the dashboard's controls (default: generated and printed once)
  --fresh             start a new run even if the database holds an unfinished one of this task
  --strategy S        ${STRATEGY_NAMES.join(' | ')} (default fedlora)
  --rounds N          global rounds (default 5)
  --devices N         devices to wait for before round 1, and fleet partitions (default 4)
  --partitions N      fleet partitions (default: --devices)
  --alpha A           Dirichlet alpha of the fleet's label skew (default 0.5)
  --seed N            run seed (default 42)
  --db PATH|memory    SQLite file for runs, rounds, metrics, checkpoints (default .data/tabfleet.sqlite)
  --groups N          device groups for grouping strategies (default: about one per 5 devices)
  --local-steps N     local steps per intra-group round (default: the task's, else 10)
  --batch-size N      local batch size (default: the task's, else 16)
  --lr X              learning rate of the LoRA factors (default: the task's, else 0.001)
  --head-lr X         learning rate of the classification head (default: the task's, else 0.01)
  --rank N            LoRA rank (default: the task's, else 8)
  --top-k N           built-in tasks: classes kept from the dataset (default 20)
  --max-per-class N   cap on training rows per class (default: the task's, else no cap)
  --round-timeout S   seconds a round waits for uploads (default 600)
  --min-report F      fraction of a round's devices that must report, else the round is rerun (default 0.5)
  --rejoin-grace S    seconds a device that dropped mid-round may take to come back for its work (default 30)
  --norm-bound F|off  refuse uploads whose block norm exceeds F × what the assigned Adam steps can move (default 1.01)
  --exit-when-done    exit after the last round
  --robust R          ${ROBUST_RULES.join(' | ')}: how device updates are combined (default cosine-mean)
  --trim-fraction F   trimmed-mean: fraction dropped at each end, in [0, 0.5) (default ${DEFAULT_TRIM_FRACTION})
  --clip-norm X|auto|off  scale updates down to L2 norm X, or to the median norm of the round (default auto)
  --budget-rule R     planner's round budget: group (default) | device (quantiles of the fleet's times) | rate
                      (budget and plans chosen jointly) | floor (the slowest group's depth-1 plan)
  --member-depth M    group (one depth per group, default) | member (τ per group, each member the deepest depth that fits)
  --weighting W       across groups: samples (default) | work (FedNova-style, by each group's τ_g · I)
  --lora-agg R        separate (A and B averaged apart, default) | exact (the averaged product re-factorised at rank r)
  --weight-cap F|off  own-data devices weigh at most F × the round's median declared sample count (default 2)
  --round-retries N   attempts in a row a round may miss --min-report before the run fails (default 5)
  --resume-wait S     seconds a resumed run waits for its devices, then goes on with those present (default 120)
  --max-devices-per-address N  devices one client address may hold at once (default 32)
  --max-joins-per-minute N     hellos per minute from one address (default 120)
  --max-connections-per-address N  open device connections per address (default 64; total: --max-connections, 10000)
  --max-connections N
  --invites-only      admit devices only by single-use invite links (POST /api/admin/invites), not the shared token
  --trust-proxy ADDR[,ADDR]  behind these reverse proxies (their addresses), per-address limits key on the
                      client X-Forwarded-For names; otherwise on the socket address (the header is ignored)
  --slot-grace S      fleet slots of devices gone longer than S seconds go to new tabs (default 600)
  --https             serve over TLS (phones need it for WebGPU, threads, wake lock); without --cert/--key a
                      self-signed certificate is made once and kept next to the database (.data/tls-cert.pem)
  --cert PATH         PEM certificate for --https (e.g. from mkcert); needs --key
  --key PATH          PEM private key of --cert
  --keep-checkpoints N|all   checkpoints kept per run: the last N rounds' (default ${DEFAULT_CHECKPOINT_RETENTION.keepLast})
  --keep-best-checkpoint on|off  also keep the best-scoring round's checkpoint (default on)
  --evict-after S     seconds a disconnected device stays in the live registry and dashboard (default 600; at least --rejoin-grace)
  --redis URL         join a cluster of coordinators sharing one run through Redis (README "Scale out")
  --cluster NAME      with --redis: the cluster's name, its key prefix in Redis (default "default")
  --node-id ID        with --redis: this node's id (default: host name + random suffix)
  --public-url URL    with --redis: where devices reach this node, e.g. http://10.0.0.5:8080 (default: its URL)
`;

function int(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`--${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`--${name} must be a number > 0, got "${raw}"`);
  return n;
}

function nonNegative(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new ConfigError(`--${name} must be a number >= 0, got "${raw}"`);
  return n;
}

function fraction(name: string, raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > max) throw new ConfigError(`--${name} must be a number in [0, ${max}], got "${raw}"`);
  return n;
}

export function parseCoordinatorArgs(argv: readonly string[]): CoordinatorConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        token: { type: 'string' },
        'admin-token': { type: 'string' },
        fresh: { type: 'boolean' },
        'min-report': { type: 'string' },
        'rejoin-grace': { type: 'string' },
        'norm-bound': { type: 'string' },
        strategy: { type: 'string' },
        rounds: { type: 'string' },
        devices: { type: 'string' },
        alpha: { type: 'string' },
        partitions: { type: 'string' },
        seed: { type: 'string' },
        db: { type: 'string' },
        groups: { type: 'string' },
        'local-steps': { type: 'string' },
        'batch-size': { type: 'string' },
        lr: { type: 'string' },
        'head-lr': { type: 'string' },
        rank: { type: 'string' },
        'top-k': { type: 'string' },
        'max-per-class': { type: 'string' },
        'round-timeout': { type: 'string' },
        'exit-when-done': { type: 'boolean' },
        robust: { type: 'string' },
        'trim-fraction': { type: 'string' },
        'clip-norm': { type: 'string' },
        'budget-rule': { type: 'string' },
        'member-depth': { type: 'string' },
        weighting: { type: 'string' },
        'lora-agg': { type: 'string' },
        task: { type: 'string' },
        train: { type: 'string' },
        eval: { type: 'string' },
        'eval-rows': { type: 'string' },
        'init-adapter': { type: 'string' },
        https: { type: 'boolean' },
        cert: { type: 'string' },
        key: { type: 'string' },
        'keep-checkpoints': { type: 'string' },
        'keep-best-checkpoint': { type: 'string' },
        'evict-after': { type: 'string' },
        'weight-cap': { type: 'string' },
        'round-retries': { type: 'string' },
        'resume-wait': { type: 'string' },
        'max-devices-per-address': { type: 'string' },
        'max-joins-per-minute': { type: 'string' },
        'max-connections-per-address': { type: 'string' },
        'max-connections': { type: 'string' },
        'slot-grace': { type: 'string' },
        'invites-only': { type: 'boolean' },
        'trust-proxy': { type: 'string' },
        redis: { type: 'string' },
        cluster: { type: 'string' },
        'node-id': { type: 'string' },
        'public-url': { type: 'string' },
      },
    }));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const strategy = values.strategy ?? 'fedlora';
  if (!isStrategyName(strategy)) throw new ConfigError(`--strategy must be one of ${STRATEGY_NAMES.join(', ')}, got "${strategy}"`);
  const port = int('port', values.port, 8080, 0);
  if (port > 65535) throw new ConfigError(`--port must be <= 65535, got ${port}`);
  const token = values.token ?? randomBytes(12).toString('base64url');
  if (token.length === 0 || token.length > 256) throw new ConfigError('--token must be 1-256 characters');
  const adminToken = values['admin-token'] ?? randomBytes(18).toString('base64url');
  if (adminToken.length < 8 || adminToken.length > 256) throw new ConfigError('--admin-token must be 8-256 characters');
  if (adminToken === token) throw new ConfigError('--admin-token must differ from the join token');
  const minReport = fraction('min-report', values['min-report'], 0.5, 1);
  if (values.task !== undefined && (values.train !== undefined || values.eval !== undefined)) {
    throw new ConfigError('give either --task or --train/--eval, not both');
  }
  if (values.eval !== undefined && values.train === undefined) {
    throw new ConfigError('--eval needs --train (or write a task file with "labels" and "eval" for an own-data fleet)');
  }
  const evalRows = values['eval-rows'] === undefined || values['eval-rows'] === 'all' ? values['eval-rows'] : int('eval-rows', values['eval-rows'], 0, 1);
  const explicit = Object.keys(values).filter((k) => (values as Record<string, unknown>)[k] !== undefined);
  if ((values.cert === undefined) !== (values.key === undefined)) throw new ConfigError('--cert and --key go together');
  if (values.cert !== undefined && !values.https) throw new ConfigError('--cert/--key need --https');
  if (values.redis !== undefined && !/^rediss?:\/\/\S+$/.test(values.redis)) throw new ConfigError(`--redis must be a redis:// or rediss:// URL, got "${values.redis}"`);
  for (const flag of ['cluster', 'node-id', 'public-url'] as const) {
    if (values[flag] !== undefined && values.redis === undefined) throw new ConfigError(`--${flag} needs --redis`);
  }
  if (values.cluster !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(values.cluster)) throw new ConfigError('--cluster must be 1-64 letters, digits, ".", "_" or "-"');
  if (values['node-id'] !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(values['node-id'])) throw new ConfigError('--node-id must be 1-64 letters, digits, ".", "_" or "-"');
  if (values['public-url'] !== undefined && !/^https?:\/\/[^\s/]+\/?$/.test(values['public-url'])) throw new ConfigError('--public-url must be an origin such as http://10.0.0.5:8080');
  return {
    port,
    host: values.host ?? '0.0.0.0',
    token,
    tokenGenerated: values.token === undefined,
    adminToken,
    adminTokenGenerated: values['admin-token'] === undefined,
    resume: !(values.fresh ?? false),
    strategy,
    rounds: int('rounds', values.rounds, 5, 1),
    devicesExpected: int('devices', values.devices, 4, 1),
    partitions: int('partitions', values.partitions, int('devices', values.devices, 4, 1), 1),
    alpha: positive('alpha', values.alpha, 0.5),
    seed: int('seed', values.seed, 42, 0),
    db: values.db ?? '.data/tabfleet.sqlite',
    groups: values.groups === undefined ? undefined : int('groups', values.groups, 0, 1),
    localSteps: int('local-steps', values['local-steps'], 10, 1),
    batchSize: int('batch-size', values['batch-size'], 16, 1),
    learningRate: positive('lr', values.lr, 0.001),
    headLearningRate: positive('head-lr', values['head-lr'], 0.01),
    rank: int('rank', values.rank, 8, 1),
    topK: int('top-k', values['top-k'], 20, 2),
    maxPerClass: values['max-per-class'] === undefined ? undefined : int('max-per-class', values['max-per-class'], 0, 1),
    roundTimeoutMs: positive('round-timeout', values['round-timeout'], 600) * 1000,
    minReportFraction: minReport,
    rejoinGraceMs: nonNegative('rejoin-grace', values['rejoin-grace'], 30) * 1000,
    normBoundFactor: values['norm-bound'] === 'off' ? null : positive('norm-bound', values['norm-bound'], 1.01),
    exitWhenDone: values['exit-when-done'] ?? false,
    robust: robustOptions(values.robust, values['trim-fraction'], values['clip-norm']),
    ...methodOptions({ budgetRule: values['budget-rule'], memberDepth: values['member-depth'], weighting: values.weighting, loraAggregation: values['lora-agg'] }),
    task: values.train === undefined ? (values.task ?? 'wordnet') : undefined,
    trainFile: values.train,
    evalFile: values.eval,
    evalRows: evalRows as number | 'all' | undefined,
    initAdapter: values['init-adapter'],
    explicit,
    https: values.https ?? false,
    tlsCert: values.cert,
    tlsKey: values.key,
    evictAfterMs: positive('evict-after', values['evict-after'], 600) * 1000,
    checkpointRetention: retentionOptions(values['keep-checkpoints'], values['keep-best-checkpoint']),
    sampleWeightCap: values['weight-cap'] === 'off' ? null : positive('weight-cap', values['weight-cap'], 2),
    maxRoundAttempts: int('round-retries', values['round-retries'], 5, 1),
    resumeWaitMs: nonNegative('resume-wait', values['resume-wait'], 120) * 1000,
    maxDevicesPerAddress: int('max-devices-per-address', values['max-devices-per-address'], 32, 1),
    maxJoinsPerMinute: int('max-joins-per-minute', values['max-joins-per-minute'], 120, 1),
    maxConnectionsPerAddress: int('max-connections-per-address', values['max-connections-per-address'], 64, 1),
    maxConnections: int('max-connections', values['max-connections'], 10_000, 1),
    slotGraceMs: nonNegative('slot-grace', values['slot-grace'], 600) * 1000,
    invitesOnly: values['invites-only'] ?? false,
    trustedProxies: proxyList(values['trust-proxy']),
    ...(values.redis === undefined ? {} : { redis: values.redis, cluster: values.cluster ?? 'default' }),
    ...(values['node-id'] === undefined ? {} : { nodeId: values['node-id'] }),
    ...(values['public-url'] === undefined ? {} : { publicUrl: values['public-url'].replace(/\/$/, '') }),
  };
}

/** --trust-proxy: comma-separated IP addresses (IPv4 or IPv6); names and ranges are refused. */
function proxyList(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  const list = raw.split(',').map((a) => a.trim()).filter((a) => a.length > 0);
  if (list.length === 0) throw new ConfigError('--trust-proxy needs at least one address');
  for (const a of list) if (isIP(a) === 0) throw new ConfigError(`--trust-proxy takes IP addresses (a proxy's socket address), got "${a}"`);
  return list;
}

function retentionOptions(keep: string | undefined, best: string | undefined): CheckpointRetention {
  const keepLast = keep === 'all' ? Number.POSITIVE_INFINITY : int('keep-checkpoints', keep, DEFAULT_CHECKPOINT_RETENTION.keepLast, 1);
  if (best !== undefined && best !== 'on' && best !== 'off') throw new ConfigError(`--keep-best-checkpoint must be on or off, got "${best}"`);
  return { keepLast, keepBest: best === undefined ? DEFAULT_CHECKPOINT_RETENTION.keepBest : best === 'on' };
}

export const BUDGET_RULES = ['floor', 'rate', 'group', 'device'] as const;
export const MEMBER_DEPTHS = ['group', 'member'] as const;
export const GROUP_WEIGHTINGS = ['samples', 'work'] as const;
export const LORA_AGGREGATIONS = ['separate', 'exact'] as const;

export interface MethodOptions {
  readonly budgetRule?: (typeof BUDGET_RULES)[number];
  readonly memberDepth?: (typeof MEMBER_DEPTHS)[number];
  readonly weighting?: (typeof GROUP_WEIGHTINGS)[number];
  readonly loraAggregation?: (typeof LORA_AGGREGATIONS)[number];
}

/** `{ method }` with the choices given on the command line, each checked; `{}` when none is. */
function methodOptions(raw: { readonly [K in keyof MethodOptions]: string | undefined }): { method?: MethodOptions } {
  const pick = <T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined => {
    if (value === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(value)) throw new ConfigError(`--${flag} must be one of ${allowed.join(', ')}, got "${value}"`);
    return value as T;
  };
  const method: MethodOptions = {
    ...withValue('budgetRule', pick('budget-rule', raw.budgetRule, BUDGET_RULES)),
    ...withValue('memberDepth', pick('member-depth', raw.memberDepth, MEMBER_DEPTHS)),
    ...withValue('weighting', pick('weighting', raw.weighting, GROUP_WEIGHTINGS)),
    ...withValue('loraAggregation', pick('lora-agg', raw.loraAggregation, LORA_AGGREGATIONS)),
  };
  return Object.keys(method).length === 0 ? {} : { method };
}

const withValue = <K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } => (value === undefined ? {} : ({ [key]: value } as { [P in K]: V }));

function robustOptions(rule = 'cosine-mean', trim: string | undefined, clip: string | undefined): RobustOptions | undefined {
  if (!isRobustRule(rule)) throw new ConfigError(`--robust must be one of ${ROBUST_RULES.join(', ')}, got "${rule}"`);
  if (trim !== undefined && rule !== 'trimmed-mean') throw new ConfigError('--trim-fraction applies only to --robust trimmed-mean');
  const trimFraction = trim === undefined ? undefined : trim.trim() === '' ? Number.NaN : Number(trim);
  if (trimFraction !== undefined && !(trimFraction >= 0 && trimFraction < 0.5)) {
    throw new ConfigError(`--trim-fraction must be a number in [0, 0.5), got "${trim}"`);
  }
  // Clipping to the round's median norm is on by default: it bounds what one over-long upload can do.
  const clipNorm = clip === 'off' ? undefined : clip === undefined || clip === 'auto' ? 'auto' : positive('clip-norm', clip, 0);
  if (rule === 'mean' && clipNorm === undefined) return undefined;
  return {
    rule,
    ...(rule === 'trimmed-mean' ? { trimFraction: trimFraction ?? DEFAULT_TRIM_FRACTION } : {}),
    ...(clipNorm === undefined ? {} : { clipNorm }),
  };
}

/** Socket.IO's limit per message. The default (1 MB) silently drops a client sending more. */
export const HTTP_BUFFER_MARGIN = 1.25;
export const HTTP_BUFFER_OVERHEAD_BYTES = 64 * 1024;

/**
 * maxHttpBufferSize for a largest binary payload (the full encoded adapter): the payload with a
 * 25% margin plus 64 KiB for the message's JSON part and framing, rounded up to a KiB.
 */
export function computeMaxHttpBufferSize(largestPayloadBytes: number): number {
  if (!(Number.isFinite(largestPayloadBytes) && largestPayloadBytes > 0)) {
    throw new ConfigError(`largest payload must be a positive number of bytes, got ${largestPayloadBytes}`);
  }
  const bytes = largestPayloadBytes * HTTP_BUFFER_MARGIN + HTTP_BUFFER_OVERHEAD_BYTES;
  return Math.ceil(bytes / 1024) * 1024;
}
