/**
 * Greedy continuation of a prompt with a Hugging Face decoder, with or without a PEFT LoRA adapter,
 * and the log-probability of every generated token: run it with and without --adapter to compare
 * the base and the fine-tuned model.
 *
 *   npm run generate -- --model DIR --prompt "Once upon a time" [--adapter PEFT_DIR]
 *                       [--max-new-tokens 32] [--template sft | --template "Q: {prompt}\nA: "] [--json]
 */
import { parseArgs } from 'node:util';
import { directoryReader, loadHfModelFromDir, useBackend, type NodeBackend } from '../node';
import { DEFAULT_SFT_TEMPLATE, LoraStack, greedyGenerate, loadPeftAdapter } from '../src';
import { num } from './format-table';

const HELP = `usage: npm run generate -- --model DIR --prompt TEXT [options]
  --model DIR            Hugging Face checkpoint directory (config.json, *.safetensors, tokenizer.json)
  --prompt TEXT          the prompt
  --adapter DIR          a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors)
  --max-new-tokens N     tokens to generate (default 32; stops early at EOS)
  --template T           "sft" for the default SFT template, or a template containing {prompt}
                         (use the template the adapter was trained with); default: the raw prompt
  --backend B            wasm (default) or cpu
  --json                 print one JSON object instead of text`;

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' },
    prompt: { type: 'string' },
    adapter: { type: 'string' },
    'max-new-tokens': { type: 'string', default: '32' },
    template: { type: 'string' },
    backend: { type: 'string', default: 'wasm' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

async function main(): Promise<void> {
  if (a.help) return console.log(HELP);
  if (!a.model || a.prompt === undefined) throw new Error(`--model and --prompt are required\n\n${HELP}`);
  if (a.backend !== 'wasm' && a.backend !== 'cpu') throw new Error(`--backend: wasm or cpu, got "${a.backend}"`);
  const maxNew = num('max-new-tokens', a['max-new-tokens']);
  await useBackend(a.backend as NodeBackend);
  const { decoder, tokenizer } = await loadHfModelFromDir(a.model);
  const tok = tokenizer!;
  let stack: LoraStack | undefined;
  if (a.adapter) {
    const peft = await loadPeftAdapter(decoder, directoryReader(a.adapter)).catch((e: Error) => {
      throw new Error(`${a.adapter}: ${e.message}`, { cause: e });
    });
    // All layers as "trained" blocks of depth = layers: the imported values load into every adapted layer.
    stack = new LoraStack(decoder, decoder.blocks.length, peft.lora, 0);
    stack.setBlocks(peft.state);
  }
  const template = a.template === undefined ? undefined : a.template === 'sft' ? DEFAULT_SFT_TEMPLATE.prompt : a.template;
  if (template !== undefined && !template.includes('{prompt}')) throw new Error('--template must be "sft" or contain {prompt}');
  const text = template === undefined ? a.prompt : template.split('{prompt}').join(a.prompt);
  const promptIds = tok.encode(text, true);
  const t0 = performance.now();
  const out = await greedyGenerate(decoder, promptIds, { maxNewTokens: maxNew, stopIds: tok.special.eos, ...(stack ? { stack } : {}) });
  const ms = performance.now() - t0;
  const tokens = out.map((t) => ({ id: t.id, text: tok.decode([t.id]), logProb: t.logProb }));
  const continuation = tok.decode(out.map((t) => t.id), true);
  const sumLogProb = out.reduce((s, t) => s + t.logProb, 0);
  if (a.json) {
    console.log(JSON.stringify({ model: a.model, adapter: a.adapter ?? null, prompt: text, promptIds, tokens, text: continuation, sumLogProb, ms: Math.round(ms) }, null, 2));
  } else {
    console.log(`${text}\x1b[1m${continuation}\x1b[0m\n`);
    for (const t of tokens) console.log(`${String(t.id).padStart(7)}  ${t.logProb.toFixed(4).padStart(9)}  ${JSON.stringify(t.text)}`);
    console.log(`\n${out.length} tokens, sum log p = ${sumLogProb.toFixed(4)}, ${(ms / Math.max(1, out.length)).toFixed(0)} ms/token (${a.backend}, KV cache)`);
  }
  stack?.dispose();
  decoder.dispose();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
