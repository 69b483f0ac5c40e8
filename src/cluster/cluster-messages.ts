import type { BudgetSpec } from './connection-budget';

/** Every IPC message of unipool's cluster carries this key, so an app's own messages pass untouched. */
export const MESSAGE_KEY = 'unipool';

/** What the primary asks a worker; `id` pairs a request with its `reply`. */
export type PrimaryMessage =
  | { unipool: 'shutdown'; force?: boolean }
  | { unipool: 'request'; id: number; what: 'metrics' | 'status' | 'frame' | 'lend' }
  | { unipool: 'reload'; id: number; config: Record<string, unknown> }
  | { unipool: 'budget'; budget: BudgetSpec }
  | { unipool: 'broadcast'; payload: BroadcastPayload };

/** What a worker tells the primary. */
export type WorkerMessage =
  | { unipool: 'readiness'; ready: boolean }
  | { unipool: 'reply'; id: number; value?: unknown; error?: string }
  | { unipool: 'stopped'; ok: boolean; graceful: number; forced: number }
  | { unipool: 'broadcast'; payload: BroadcastPayload };

/** A WebSocket broadcast relayed to the other workers: the pool's name and the data (text, or bytes in base64). */
export interface BroadcastPayload {
  pool: string;
  data: string;
  binary: boolean;
}

/** Whether `msg` is one of unipool's cluster messages. */
export function isClusterMessage<M extends { unipool: string }>(msg: unknown): msg is M {
  return typeof msg === 'object' && msg !== null && typeof (msg as { unipool?: unknown }).unipool === 'string';
}
