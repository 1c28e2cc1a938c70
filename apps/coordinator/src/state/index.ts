import { MemoryState } from './memory';
import { SqliteState } from './sqlite';
import type { CheckpointRetention } from './retention';
import type { CoordinatorState } from './types';

export type { CoordinatorState } from './types';
export * from './types';
export { MemoryState } from './memory';
export { SqliteState } from './sqlite';
export * from './retention';

/** 'memory' keeps nothing after exit; anything else is an SQLite file path (or ':memory:'). */
export function openState(location: string, options: { readonly retention?: CheckpointRetention } = {}): CoordinatorState {
  return location === 'memory' ? new MemoryState(options) : new SqliteState(location, options);
}
