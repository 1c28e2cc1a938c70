/**
 * @tabfleet/lora-core: everything that decides, nothing that does I/O.
 * model/ (encoder families, tokenizer, weight loading) · lora/ (adapters, depth, training step) ·
 * data/ (datasets, partitioners, user files) · task/ (task files, label sets) · federated/ (strategies, grouping, planning,
 * aggregation) · protocol/ (messages, adapter codec) · ops/ (custom-gradient kernels).
 */
export * from './model';
export * from './lora';
export * from './data';
export * from './federated';
export * from './protocol';
export * from './sim';
export * from './task';
export * from './objective';
export { matMul } from './ops/matmul';
