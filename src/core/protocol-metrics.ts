import type { LatencyHistogram } from './latency-histogram';

/** Label values of one sample; the collector adds `protocol` and `pool` itself. */
export type MetricLabels = Readonly<Record<string, string | number>>;

/** One value of a counter or gauge family. */
export interface ProtocolMetricSample {
  labels?: MetricLabels;
  value: number;
}

/** One histogram series: per-bucket (not cumulative) counts, the last one for `+Inf`. */
export interface ProtocolHistogramSample {
  labels?: MetricLabels;
  /** Upper bounds, ascending, in the family's unit (seconds for `_seconds`). */
  bounds: readonly number[];
  /** `bounds.length + 1` counts; `counts[i]` holds observations in `(bounds[i-1], bounds[i]]`. */
  counts: ArrayLike<number>;
  sum: number;
  count: number;
}

interface FamilyBase {
  /** Full metric name, `unipool_` prefix included, e.g. `unipool_tls_handshakes_total`. */
  name: string;
  /** One line of help text. */
  help: string;
}

/**
 * A metric family a protocol reports from its own counters, read at scrape time (see
 * `ConnectionPoolManager.protocolMetrics`). Counters end in `_total`; durations are in seconds.
 * Each pool's samples carry its `pool` label; only pools sharing a name (outside an application)
 * are combined: summed, except gauges whose family asks for `min` or `max` (a certificate expiry
 * wants `min`).
 */
export type ProtocolMetricFamily =
  | (FamilyBase & { type: 'counter'; samples: readonly ProtocolMetricSample[] })
  | (FamilyBase & { type: 'gauge'; samples: readonly ProtocolMetricSample[]; aggregate?: 'sum' | 'min' | 'max' })
  | (FamilyBase & { type: 'histogram'; samples: readonly ProtocolHistogramSample[] });

/** A histogram sample from a millisecond `LatencyHistogram`, converted to seconds. */
export function histogramSampleSeconds(histogram: LatencyHistogram, labels?: MetricLabels): ProtocolHistogramSample {
  return { labels, bounds: msBoundsToSeconds(histogram.bounds), counts: histogram.counts, sum: histogram.sum / 1000, count: histogram.count };
}

/** One sample per entry of a count map (`reason -> n`), the key under `label`. */
export function countSamples(counts: Iterable<readonly [string | number, number]>, label: string): ProtocolMetricSample[] {
  const samples: ProtocolMetricSample[] = [];
  for (const [key, value] of counts) samples.push({ labels: { [label]: key }, value });
  return samples;
}

/**
 * `unipool_tls_certificate_expiry_seconds`: seconds until the served certificate expires
 * (negative once expired), for every protocol that serves TLS. Pools combined under one name
 * report the soonest expiry (`min`), which is what an expiry alert wants.
 */
export function certificateExpiryFamily(expiresAt: number, now = Date.now()): Extract<ProtocolMetricFamily, { type: 'gauge' }> {
  return {
    name: 'unipool_tls_certificate_expiry_seconds',
    help: 'Seconds until the served TLS certificate expires (negative once expired).',
    type: 'gauge',
    aggregate: 'min',
    samples: [{ value: (expiresAt - now) / 1000 }],
  };
}

const SECONDS_CACHE = new WeakMap<readonly number[], readonly number[]>();

/** Millisecond bucket bounds as seconds, without binary-fraction noise (0.05 ms -> 0.00005). */
export function msBoundsToSeconds(bounds: readonly number[]): readonly number[] {
  let seconds = SECONDS_CACHE.get(bounds);
  if (!seconds) {
    seconds = Object.freeze(bounds.map((b) => Number((b / 1000).toPrecision(12))));
    SECONDS_CACHE.set(bounds, seconds);
  }
  return seconds;
}
