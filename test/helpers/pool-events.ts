import type { ConnectionPoolEvent, ConnectionPoolManager, PoolEventMap } from '../../src';

/** Resolves with the first payload of `event` that `match` accepts, on any pool. */
export function nextPoolEvent<K extends ConnectionPoolEvent>(
  pool: ConnectionPoolManager<unknown, never> | { events: ConnectionPoolManager<unknown>['events'] },
  event: K,
  match: (payload: PoolEventMap[K]) => boolean = () => true,
): Promise<PoolEventMap[K]> {
  return new Promise((resolve) => {
    const listener = (payload: PoolEventMap[K]): void => {
      if (!match(payload)) return;
      pool.events.off(event, listener);
      resolve(payload);
    };
    pool.events.on(event, listener);
  });
}

/** Every payload of one pool event from now on, in order (the array fills as they come). */
export function collect<K extends keyof PoolEventMap & string>(pool: { events: ConnectionPoolManager<unknown>['events'] }, event: K): Array<PoolEventMap[K]> {
  const seen: Array<PoolEventMap[K]> = [];
  pool.events.on(event, (payload) => seen.push(payload));
  return seen;
}
