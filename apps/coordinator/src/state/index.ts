import { MemoryState } from './memory';
import { SqliteState } from './sqlite';
import type { CoordinatorState } from './types';

export type { CoordinatorState } from './types';
export * from './types';
export { MemoryState } from './memory';
export { SqliteState } from './sqlite';

/** 'memory' keeps nothing after exit; anything else is an SQLite file path (or ':memory:'). */
export function openState(location: string): CoordinatorState {
  return location === 'memory' ? new MemoryState() : new SqliteState(location);
}
