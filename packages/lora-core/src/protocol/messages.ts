/**
 * The device <-> coordinator protocol: one schema per Socket.IO event, validated where a message
 * enters (coordinator for device events, page for server events). Adapter payloads are raw bytes
 * (the adapter codec's output), carried by Socket.IO as binary attachments: ArrayBuffer in the
 * page, Buffer in Node, never base64.
 *
 * Conversation of one device:
 *   device  hello {token, deviceId, dataMode}        -> server  welcome {task, fleet slot?}
 *   device  join {backend, profile, histogram, ...}  -> server  joined {rejoin}
 *   server  assignment + globalAdapter (per intra-group round)
 *   device  progress*, uploadOffer {bytes}           -> server  uploadGrant (when the upload window has room)
 *   device  upload {delta bytes}                     -> server  uploadAccepted
 *           (an upload sent without an offer is handled as before: older pages)
 *   server  runStatus (any time), serverError {code, message} on any refusal
 *   server  redirect {url, nodes} (several coordinators): reconnect to the node that owns this
 *           device's group and say hello + join there; `nodes` are fallbacks if that node dies
 */
import { z } from 'zod';

export const PROTOCOL_VERSION = 1;

export const BACKEND_NAMES = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export const DATA_MODES = ['fleet', 'own'] as const;
export type DataMode = (typeof DATA_MODES)[number];

export const RUN_STATES = ['waiting', 'running', 'finished', 'failed', 'interrupted', 'stopped'] as const;
export type RunState = (typeof RUN_STATES)[number];

export const SERVER_ERROR_CODES = [
  'invalid-message',
  'protocol-mismatch',
  'bad-token',
  'not-joined',
  'no-partition',
  'stale-round',
  'unexpected-upload',
  'bad-adapter',
  'internal',
  /** The connection sends faster than its message-rate limit; the message was dropped. */
  'rate-limited',
  /** Too many refused messages in a short time: the connection is closed. */
  'too-many-errors',
  /** The operator revoked this device: the connection is closed and every later hello refused. */
  'revoked',
  /** Sybil limits: this address holds too many devices at once, or says hello as new devices too often. */
  'too-many-devices',
  /** Too many open connections from this address, or in total: the connection is closed at once. */
  'too-many-connections',
] as const;
export type ServerErrorCode = (typeof SERVER_ERROR_CODES)[number];

export const DEVICE_ERROR_CODES = ['training-failed', 'data-failed', 'backend-failed', 'invalid-message', 'internal'] as const;
export type DeviceErrorCode = (typeof DEVICE_ERROR_CODES)[number];

const MAX_BLOCKS = 256;
const MAX_CLASSES = 10_000;
const MAX_SAMPLES = 10_000_000;

// ---- building blocks ---------------------------------------------------------------------------

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const nonNegative = finite.refine((n) => n >= 0, 'must be >= 0');
const positive = finite.refine((n) => n > 0, 'must be > 0');
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const shortText = (max = 200) => z.string().max(max);

export const deviceIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{8,64}$/, 'deviceId must be 8-64 characters of [A-Za-z0-9_-]');
const tokenSchema = z.string().min(1, 'token is empty').max(256);
const runIdSchema = z.string().min(1).max(64);
const groupIdSchema = z.string().min(1).max(64);

/**
 * Bytes as they arrive: Buffer (Node), ArrayBuffer (page) or any typed-array view; parsed into a
 * Uint8Array over the same memory (no copy). Empty payloads are refused.
 */
export const binarySchema = z
  .custom<ArrayBuffer | ArrayBufferView>(
    (v) => v instanceof ArrayBuffer || ArrayBuffer.isView(v),
    'expected binary data (ArrayBuffer, Buffer or Uint8Array)',
  )
  .transform((v) => (v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength)))
  .refine((b) => b.byteLength > 0, 'binary payload is empty');

/** Which global round and which intra-group round a piece of work belongs to. */
const roundRefShape = {
  runId: runIdSchema,
  round: count,
  intraRound: count,
};

export const resourceProfileSchema = z.strictObject({
  msPerStep: z.array(positive).min(1).max(MAX_BLOCKS),
  uploadBytesPerSec: positive,
  memoryBytes: nonNegative,
});

export const gpuAdapterInfoSchema = z.strictObject({
  vendor: shortText().optional(),
  architecture: shortText().optional(),
  device: shortText().optional(),
  description: shortText().optional(),
  isFallbackAdapter: z.boolean().optional(),
});

/** What the page measured and chose. benchmarkMs[name] = null when that backend was unavailable. */
export const backendReportSchema = z.strictObject({
  name: z.enum(BACKEND_NAMES),
  forced: z.boolean(),
  gpuAdapter: gpuAdapterInfoSchema.optional(),
  benchmarkMs: z.partialRecord(z.enum(BACKEND_NAMES), positive.nullable()),
  /** wasm: threads the backend actually runs with (1 without cross-origin isolation). */
  wasmThreads: z.number().int().positive().max(64).optional(),
  /** wasm: data-parallel Web Workers each training step is split across (1: the page's own step), each on one thread. */
  dataParallelWorkers: z.number().int().positive().max(64).optional(),
  /** The choice came from this device's cache (same browser, model and threads) rather than a new benchmark. */
  cached: z.boolean().optional(),
});

export const loraSettingsSchema = z.strictObject({
  rank: z.number().int().positive().max(1024),
  alpha: positive,
  targets: z.array(shortText(32)).min(1).max(16),
});

/**
 * A causal-LM task (issue 11): where tabs download the checkpoint (a same-origin directory with a
 * manifest.json, see lora-core's hf manifest) and how rows become tokens. `classNames` of such a
 * task are the categories whose histogram devices report (one "all rows" bin when it has none).
 */
export const causalLmTaskSchema = z.strictObject({
  modelUrl: z.string().min(1).max(1000),
  /** manifestKey of the checkpoint: a tab that finds another model there refuses to train. */
  modelHash: z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 hex'),
  modelBytes: count,
  /** HF model_type (gpt2, llama, qwen2). */
  modelType: shortText(64),
  template: z.strictObject({ prompt: z.string().min(1).max(4000), appendEos: z.boolean() }),
  /** The rows' categorical field behind classNames; absent: no such field, grouping by resources only. */
  categoryField: shortText(100).optional(),
  /**
   * Topic clusters (no category field): unit-length centroids in the built-in sentence encoder's
   * space, one per classNames entry. The device embeds its rows with USE-lite and reports the
   * nearest-centroid histogram.
   */
  topicCentroids: z.array(z.array(z.number().finite()).min(1).max(4096)).min(2).max(32).optional(),
});

export const taskInfoSchema = z.strictObject({
  name: shortText(),
  /** Labels (classification, at least 2) or categories (causal-LM). */
  classNames: z.array(shortText()).min(1).max(MAX_CLASSES),
  numBlocks: z.number().int().positive().max(MAX_BLOCKS),
  lora: loraSettingsSchema,
  /** Local batch size of this run (devices measure their step times at it). */
  batchSize: z.number().int().positive().max(65_536),
  seed: z.number().int(),
  /** Tokens kept per text (the task's maxTokens); absent = the model's own limit. */
  maxTokens: z.number().int().positive().max(65_536).optional(),
  /** Present for causal-LM tasks only. */
  causalLm: causalLmTaskSchema.optional(),
});

export const fleetSlotSchema = z.strictObject({
  index: count,
  numPartitions: z.number().int().positive(),
  /** Same-origin URL that serves this slot's partition (and only it). */
  dataUrl: z.string().min(1).max(1000),
});

export const runStatusSchema = z.strictObject({
  runId: runIdSchema,
  state: z.enum(RUN_STATES),
  strategy: shortText(64),
  /** Last completed global round (0 = only the initial evaluation done). */
  round: count,
  totalRounds: count,
  devicesJoined: count,
  devicesExpected: count,
  lastAccuracy: finite.nullable(),
  message: shortText(500).optional(),
});

// ---- device -> server --------------------------------------------------------------------------

const helloSchema = z.strictObject({
  protocolVersion: z.number().int(),
  token: tokenSchema,
  deviceId: deviceIdSchema,
  dataMode: z.enum(DATA_MODES),
  /**
   * A secret the device made for itself and keeps (localStorage). Device ids are public (status,
   * dashboard); the first hello binds the id to this key, so nobody else can speak for the device.
   */
  deviceKey: z.string().regex(/^[A-Za-z0-9_-]{16,128}$/, 'deviceKey must be 16-128 characters of [A-Za-z0-9_-]').optional(),
});

const joinSchema = z
  .strictObject({
    protocolVersion: z.number().int(),
    token: tokenSchema,
    deviceId: deviceIdSchema,
    dataMode: z.enum(DATA_MODES),
    /** Fleet mode: the slot index the coordinator gave this device in `welcome`. */
    partitionIndex: count.optional(),
    backend: backendReportSchema,
    profile: resourceProfileSchema,
    labelHistogram: z.array(count).min(1).max(MAX_CLASSES),
    numSamples: z.number().int().positive().max(MAX_SAMPLES),
    userAgent: shortText(400).optional(),
  })
  .refine((j) => j.labelHistogram.reduce((a, b) => a + b, 0) === j.numSamples, {
    message: 'labelHistogram must sum to numSamples',
    path: ['labelHistogram'],
  })
  .refine((j) => j.dataMode !== 'fleet' || j.partitionIndex !== undefined, {
    message: 'fleet-mode join needs partitionIndex',
    path: ['partitionIndex'],
  });

const progressSchema = z.strictObject({
  ...roundRefShape,
  step: count,
  localSteps: z.number().int().positive(),
  loss: finite,
});

const uploadSchema = z.strictObject({
  ...roundRefShape,
  groupId: groupIdSchema,
  numSamples: z.number().int().positive().max(MAX_SAMPLES),
  /** Encoded adapter delta (adapter codec), only the blocks this device trained. */
  payload: binarySchema,
  /** Mean training loss over the local steps, for display. */
  loss: finite.optional(),
  trainMs: nonNegative.optional(),
});

/** The device finished its local steps and will upload `bytes`; it sends the upload when granted. */
const uploadOfferSchema = z.strictObject({
  ...roundRefShape,
  groupId: groupIdSchema,
  bytes: z.number().int().positive().max(2 ** 31),
});

const deviceErrorSchema = z.strictObject({
  code: z.enum(DEVICE_ERROR_CODES),
  message: shortText(2000),
  runId: runIdSchema.optional(),
  round: count.optional(),
});

/** Why a device holds its training: the person pressed pause, the page is hidden, or it is not charging. */
export const PAUSE_REASONS = ['user', 'hidden', 'battery'] as const;
export type PauseReason = (typeof PAUSE_REASONS)[number];

/**
 * The device holds (or resumes) its training. The coordinator shows it as paused rather than
 * silent, and leaves it out of new round plans until it resumes; open work keeps its deadline.
 */
const deviceStateSchema = z.strictObject({
  paused: z.boolean(),
  /** Every reason that holds now (empty when paused is false). */
  reasons: z.array(z.enum(PAUSE_REASONS)).max(PAUSE_REASONS.length),
});

export const deviceToServerSchemas = {
  hello: helloSchema,
  join: joinSchema,
  progress: progressSchema,
  uploadOffer: uploadOfferSchema,
  upload: uploadSchema,
  deviceError: deviceErrorSchema,
  deviceState: deviceStateSchema,
} as const;

// ---- server -> device --------------------------------------------------------------------------

const welcomeSchema = z.strictObject({
  protocolVersion: z.number().int(),
  deviceId: deviceIdSchema,
  runId: runIdSchema,
  task: taskInfoSchema,
  /** Present in fleet mode only. */
  fleet: fleetSlotSchema.optional(),
});

const joinedSchema = z.strictObject({
  deviceId: deviceIdSchema,
  /** True when this deviceId had joined before (reload, reconnect). */
  rejoin: z.boolean(),
  status: runStatusSchema,
});

const assignmentSchema = z.strictObject({
  ...roundRefShape,
  groupId: groupIdSchema,
  /** Fine-tuning depth: LoRA + gradients in the top `depth` blocks and the head. */
  depth: z.number().int().nonnegative().max(MAX_BLOCKS),
  rank: z.number().int().positive().max(1024),
  localSteps: z.number().int().positive().max(1_000_000),
  batchSize: z.number().int().positive().max(65_536),
  /** Adam step size of the LoRA factors. */
  learningRate: positive,
  /** Adam step size of the classification head (it reads normalised features and wants a larger step). */
  headLearningRate: positive,
  /** Fleet mode: the partition this device trains on. */
  partitionIndex: count.optional(),
});

const globalAdapterSchema = z.strictObject({
  ...roundRefShape,
  /** Encoded adapter (adapter codec): the adapter the device starts this round from. */
  payload: binarySchema,
});

/** Send the upload offered for this round now. */
const uploadGrantSchema = z.strictObject({
  ...roundRefShape,
});

const uploadAcceptedSchema = z.strictObject({
  ...roundRefShape,
  bytes: count,
});

const serverErrorSchema = z.strictObject({
  code: z.enum(SERVER_ERROR_CODES),
  message: shortText(2000),
  /** The incoming event that caused the error, when there was one. */
  event: shortText(64).optional(),
});

const nodeUrlSchema = z
  .string()
  .max(2048)
  .refine((u) => /^https?:\/\/[^\s/]+/.test(u), { message: 'not an http(s) URL' });

const redirectSchema = z.strictObject({
  /** The coordinator node to reconnect to (its Socket.IO origin). */
  url: nodeUrlSchema,
  /** Every live node of the cluster, to try in turn when the one in use goes away. */
  nodes: z.array(nodeUrlSchema).max(1024),
  reason: shortText(200),
});

export const serverToDeviceSchemas = {
  welcome: welcomeSchema,
  joined: joinedSchema,
  assignment: assignmentSchema,
  globalAdapter: globalAdapterSchema,
  uploadGrant: uploadGrantSchema,
  uploadAccepted: uploadAcceptedSchema,
  runStatus: runStatusSchema,
  serverError: serverErrorSchema,
  redirect: redirectSchema,
} as const;

// ---- HTTP: a fleet slot's partition ------------------------------------------------------------

/** Body of the partition endpoint (fleet mode): one simulated device's training texts. */
export const fleetPartitionSchema = z
  .strictObject({
    index: count,
    classNames: z.array(shortText()).min(2).max(MAX_CLASSES),
    texts: z.array(z.string()).min(1).max(MAX_SAMPLES),
    labels: z.array(count).max(MAX_SAMPLES),
  })
  .refine((p) => p.labels.length === p.texts.length, { message: 'labels and texts differ in length', path: ['labels'] })
  .refine((p) => p.labels.every((l) => l < p.classNames.length), { message: 'a label is outside classNames', path: ['labels'] });

export type FleetPartition = z.output<typeof fleetPartitionSchema>;

const lmRowSchema = z.union([
  z.strictObject({ prompt: z.string().max(1_000_000), response: z.string().min(1).max(1_000_000), category: shortText().optional() }),
  z.strictObject({ text: z.string().min(1).max(1_000_000), category: shortText().optional() }),
]);

/** Body of the partition endpoint for a causal-LM task: one simulated device's rows. */
export const lmPartitionSchema = z
  .strictObject({
    index: count,
    /** The task's categories (classNames); every row's category is one of them when the task names a field. */
    categories: z.array(shortText()).min(1).max(MAX_CLASSES),
    rows: z.array(lmRowSchema).min(1).max(MAX_SAMPLES),
  })
  .refine((p) => p.rows.every((r) => r.category === undefined || p.categories.includes(r.category)), { message: 'a row category is outside categories', path: ['rows'] });

export type LmPartition = z.output<typeof lmPartitionSchema>;

export function parseLmPartition(raw: unknown): Parsed<LmPartition> {
  const result = lmPartitionSchema.safeParse(raw);
  return result.success ? { ok: true, value: result.data } : { ok: false, error: describeIssues('fleet partition', result.error) };
}

export function parseFleetPartition(raw: unknown): Parsed<FleetPartition> {
  const result = fleetPartitionSchema.safeParse(raw);
  return result.success ? { ok: true, value: result.data } : { ok: false, error: describeIssues('fleet partition', result.error) };
}

// ---- types -------------------------------------------------------------------------------------

type DeviceSchemas = typeof deviceToServerSchemas;
type ServerSchemas = typeof serverToDeviceSchemas;
export type DeviceEvent = keyof DeviceSchemas;
export type ServerEvent = keyof ServerSchemas;

/** Payloads after validation (binary as Uint8Array). */
export type DeviceToServer = { [E in DeviceEvent]: z.output<DeviceSchemas[E]> };
export type ServerToDevice = { [E in ServerEvent]: z.output<ServerSchemas[E]> };
/** Payloads as a sender builds them (binary as ArrayBuffer, Buffer or Uint8Array). */
export type DeviceToServerWire = { [E in DeviceEvent]: z.input<DeviceSchemas[E]> };
export type ServerToDeviceWire = { [E in ServerEvent]: z.input<ServerSchemas[E]> };

/** Socket.IO event maps: `io.Server<DeviceToServerEvents, ServerToDeviceEvents>`, `Socket<ServerToDeviceEvents, DeviceToServerEvents>`. */
export type DeviceToServerEvents = { [E in DeviceEvent]: (msg: DeviceToServerWire[E]) => void };
export type ServerToDeviceEvents = { [E in ServerEvent]: (msg: ServerToDeviceWire[E]) => void };

/** Discriminated unions of validated messages, for code that handles several events in one place. */
export type DeviceMessage = { [E in DeviceEvent]: { readonly event: E; readonly msg: DeviceToServer[E] } }[DeviceEvent];
export type ServerMessage = { [E in ServerEvent]: { readonly event: E; readonly msg: ServerToDevice[E] } }[ServerEvent];

export type Hello = DeviceToServer['hello'];
export type Join = DeviceToServer['join'];
export type Progress = DeviceToServer['progress'];
export type Upload = DeviceToServer['upload'];
export type UploadOffer = DeviceToServer['uploadOffer'];
export type UploadGrant = ServerToDevice['uploadGrant'];
export type DeviceError = DeviceToServer['deviceError'];
export type DeviceState = DeviceToServer['deviceState'];
export type Welcome = ServerToDevice['welcome'];
export type Joined = ServerToDevice['joined'];
export type Assignment = ServerToDevice['assignment'];
export type GlobalAdapter = ServerToDevice['globalAdapter'];
export type UploadAccepted = ServerToDevice['uploadAccepted'];
export type RunStatus = ServerToDevice['runStatus'];
export type ServerError = ServerToDevice['serverError'];
export type Redirect = ServerToDevice['redirect'];
export type TaskInfo = z.output<typeof taskInfoSchema>;
export type CausalLmTaskInfo = z.output<typeof causalLmTaskSchema>;
export type FleetSlot = z.output<typeof fleetSlotSchema>;
export type BackendReport = z.output<typeof backendReportSchema>;
export type GpuAdapterInfo = z.output<typeof gpuAdapterInfoSchema>;
export type LoraSettings = z.output<typeof loraSettingsSchema>;

export const DEVICE_EVENTS = Object.keys(deviceToServerSchemas) as DeviceEvent[];
export const SERVER_EVENTS = Object.keys(serverToDeviceSchemas) as ServerEvent[];

// ---- validation --------------------------------------------------------------------------------

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

function describeIssues(event: string, error: z.ZodError): string {
  const parts = error.issues.slice(0, 5).map((issue) => {
    const path = issue.path.length > 0 ? issue.path.map(String).join('.') : '(message)';
    return `${path}: ${issue.message}`;
  });
  if (error.issues.length > 5) parts.push(`… ${error.issues.length - 5} more`);
  return `invalid "${event}" message: ${parts.join('; ')}`;
}

function parseWith<T>(schemas: Record<string, z.ZodType<T>>, event: string, raw: unknown): Parsed<T> {
  if (!Object.hasOwn(schemas, event)) return { ok: false, error: `unknown event "${event}"` };
  const schema = schemas[event] as z.ZodType<T>;
  const result = schema.safeParse(raw);
  return result.success ? { ok: true, value: result.data } : { ok: false, error: describeIssues(event, result.error) };
}

/** Validate a message a device sent. Errors name the event and each offending field. */
export function parseDeviceMessage<E extends DeviceEvent>(event: E, raw: unknown): Parsed<DeviceToServer[E]>;
export function parseDeviceMessage(event: string, raw: unknown): Parsed<DeviceMessage['msg']>;
export function parseDeviceMessage(event: string, raw: unknown): Parsed<unknown> {
  return parseWith(deviceToServerSchemas as unknown as Record<string, z.ZodType<unknown>>, event, raw);
}

/** Validate a message the coordinator sent. */
export function parseServerMessage<E extends ServerEvent>(event: E, raw: unknown): Parsed<ServerToDevice[E]>;
export function parseServerMessage(event: string, raw: unknown): Parsed<ServerMessage['msg']>;
export function parseServerMessage(event: string, raw: unknown): Parsed<unknown> {
  return parseWith(serverToDeviceSchemas as unknown as Record<string, z.ZodType<unknown>>, event, raw);
}

export function isDeviceEvent(event: string): event is DeviceEvent {
  return Object.hasOwn(deviceToServerSchemas, event);
}

export function isServerEvent(event: string): event is ServerEvent {
  return Object.hasOwn(serverToDeviceSchemas, event);
}
