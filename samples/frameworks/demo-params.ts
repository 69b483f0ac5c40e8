import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';

/** Longest delay `/slow` accepts (ms). */
export const MAX_SLOW_MS = 60_000;
/** Largest body `/bytes` serves (64 MiB). */
export const MAX_BYTES = 64 * 1024 * 1024;

/** One chunk of `/bytes` bodies, shared by every response: a body of N bytes never allocates N bytes. */
const BYTES_CHUNK = Buffer.alloc(64 * 1024, 'x');

/** A whole number from 0 to `max` in a query value, else `undefined` (the route answers 400). */
export function wholeNumber(raw: unknown, max: number): number | undefined {
  if (typeof raw !== 'string' || !/^\d+$/.test(raw)) return undefined;
  const n = Number(raw);
  return n <= max ? n : undefined;
}

/** `n` bytes as a stream, so the framework writes them with backpressure: what a slow reader reads through a drain. */
export function byteStream(n: number): Readable {
  return Readable.from(
    (function* () {
      for (; n > BYTES_CHUNK.length; n -= BYTES_CHUNK.length) yield BYTES_CHUNK;
      yield BYTES_CHUNK.subarray(0, n);
    })(),
  );
}

/** Resolves after `ms`, or as soon as `res` closes (the client left, or a forced shutdown): no timer outlives its response. */
export function delay(ms: number, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    res.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
