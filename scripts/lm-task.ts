/**
 * A small causal-LM task on a tiny random GPT-2 checkpoint, written to files: instruction rows
 * `{prompt, response, category}` (capitals, colours, opposites, four phrasings each) under a short
 * custom template, of which the coordinator holds out a seeded quarter, and the task file. For the decoder
 * fleet spec and for trying `--task` with a decoder by hand:
 *
 *   npx tsx scripts/lm-task.ts OUT_DIR
 *   npm start -- --task OUT_DIR/task.json --strategy hierfedlora --devices 3
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeTinyCheckpoints } from '../packages/lora-core/test/hf/tiny';

const FACTS: Record<string, ReadonlyArray<readonly [string, string]>> = {
  capital: [['france', 'paris'], ['italy', 'rome'], ['spain', 'madrid'], ['japan', 'tokyo'], ['egypt', 'cairo'], ['peru', 'lima'], ['kenya', 'nairobi'], ['chile', 'santiago']],
  colour: [['grass', 'green'], ['sky', 'blue'], ['snow', 'white'], ['coal', 'black'], ['blood', 'red'], ['sun', 'yellow'], ['orange', 'orange'], ['plum', 'purple']],
  opposite: [['up', 'down'], ['hot', 'cold'], ['big', 'small'], ['fast', 'slow'], ['open', 'shut'], ['early', 'late'], ['wet', 'dry'], ['left', 'right']],
};
const TRAIN_PHRASES: Record<string, readonly string[]> = {
  capital: ['capital of {x}', 'the capital of {x}', 'name the capital of {x}'],
  colour: ['colour of {x}', 'the colour of {x}', 'name the colour of {x}'],
  opposite: ['opposite of {x}', 'the opposite of {x}', 'name the opposite of {x}'],
};
/** Share of the rows the coordinator holds out (seeded) and scores every round. */
const HOLDOUT = 0.25;
const EVAL_PHRASES: Record<string, string> = { capital: 'what is the capital of {x}', colour: 'what is the colour of {x}', opposite: 'what is the opposite of {x}' };

export interface LmTaskFiles {
  readonly dir: string;
  readonly modelDir: string;
  readonly taskFile: string;
  readonly template: string;
  readonly trainRows: number;
  readonly evalRows: number;
}

export function writeLmTask(dir: string, extra: Record<string, unknown> = {}): LmTaskFiles {
  mkdirSync(dir, { recursive: true });
  const modelDir = writeTinyCheckpoints(join(dir, 'models'), ['gpt2-tied']).get('gpt2-tied')!;
  const rows: string[] = [];
  for (const [category, facts] of Object.entries(FACTS)) {
    for (const [x, answer] of facts) {
      for (const p of [...TRAIN_PHRASES[category]!, EVAL_PHRASES[category]!]) rows.push(JSON.stringify({ prompt: p.replace('{x}', x), response: answer, category }));
    }
  }
  writeFileSync(join(dir, 'train.jsonl'), rows.join('\n') + '\n');
  const heldOut = Math.round(rows.length * HOLDOUT);
  const template = 'Q: {prompt}\nA: ';
  const task = {
    version: 1,
    name: 'tiny-facts-sft',
    description: 'Instruction fine-tuning of a tiny random GPT-2 on short facts (capitals, colours, opposites).',
    model: { family: 'hf', dir: 'models/gpt2-tied' },
    objective: { type: 'causal-lm', template: { prompt: template, appendEos: true }, categoryField: 'category' },
    train: 'train.jsonl',
    evaluation: { holdoutFraction: HOLDOUT },
    maxTokens: 40,
    lora: { rank: 4, alpha: 8, targets: ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] },
    defaults: { batchSize: 8, learningRate: 0.01, localSteps: 8 },
    ...extra,
  };
  const taskFile = join(dir, 'task.json');
  writeFileSync(taskFile, JSON.stringify(task, null, 2) + '\n');
  return { dir, modelDir, taskFile, template, trainRows: rows.length - heldOut, evalRows: heldOut };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: npx tsx scripts/lm-task.ts OUT_DIR');
    process.exit(2);
  }
  const f = writeLmTask(resolve(out));
  console.log(`wrote ${f.taskFile} (${f.trainRows} training rows, ${f.evalRows} held out; model ${f.modelDir})`);
}
