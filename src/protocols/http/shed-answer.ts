import type { ShedReason } from '../../overload/shed-reason';

/** Body of the answer to a shed request, by reason (one string each, built once). */
const SHED_BODIES: Readonly<Record<ShedReason, string>> = Object.freeze({
  limit: 'server overloaded: concurrency limit reached (limit)\n',
  queue_full: 'server overloaded: admission queue full (queue_full)\n',
  queue_timeout: 'server overloaded: waited too long in the admission queue (queue_timeout)\n',
  pressure: 'server overloaded: shedding work under process pressure (pressure)\n',
});

/** Body of the 503/429 a shed HTTP request (or HTTP/2 stream) gets: names the reason. */
export function shedBody(reason: ShedReason): string {
  return SHED_BODIES[reason];
}

/** A shed request's answer as written: headers in node's flat raw form, and the body. */
export interface ShedAnswer {
  readonly headers: readonly string[];
  readonly body: Buffer;
}

/** The answers, by `retryAfter` then reason (a few configured values: a handful of entries). */
const answers = new Map<number, Partial<Record<ShedReason, ShedAnswer>>>();

/**
 * The headers (`Content-Type`, `Content-Length`, `Retry-After` unless 0) and body of a shed
 * HTTP/1.1 request, built once per reason and `retryAfter`: under overload most requests are
 * shed, and each answer is then one `writeHead` of a ready list (no `setHeader` per header).
 */
export function shedAnswer(reason: ShedReason, retryAfter: number): ShedAnswer {
  let byReason = answers.get(retryAfter);
  if (byReason === undefined) {
    byReason = {};
    answers.set(retryAfter, byReason);
  }
  let answer = byReason[reason];
  if (answer === undefined) {
    const body = Buffer.from(SHED_BODIES[reason]);
    const headers = ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(body.length)];
    if (retryAfter > 0) headers.push('Retry-After', String(retryAfter));
    answer = { headers: Object.freeze(headers), body };
    byReason[reason] = answer;
  }
  return answer;
}
