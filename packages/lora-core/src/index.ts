/**
 * @tabfleet/lora-core: everything that decides, nothing that does I/O.
 * model/ (encoder families, tokenizer, weight loading) · lora/ (adapters, depth, training step) ·
 * data/ (datasets, partitioners, user files) · federated/ (strategies, grouping, planning,
 * aggregation) · protocol/ (messages, adapter codec) · ops/ (custom-gradient kernels).
 */
export * from './model';
export * from './lora';
export * from './data';
export * from './federated';
export * from './protocol';
export * from './sim';
export * from './objective';
export { matMul } from './ops/matmul';
