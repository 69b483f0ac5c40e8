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
