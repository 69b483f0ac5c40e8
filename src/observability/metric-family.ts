import type { Metric } from 'prom-client';
import type { MetricLabels, ProtocolHistogramSample, ProtocolMetricSample } from '../core/protocol-metrics';

/** Metric names Prometheus accepts. */
export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

type Labels = Record<string, string | number>;
interface OutputValue {
  metricName?: string;
  labels: Labels;
  value: number;
}

/** Identity of a label set, independent of key order. */
export function labelKey(labels: MetricLabels | undefined): string {
  if (!labels) return '';
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${String(labels[k])}`)
    .join('\u0000');
}

/** Series with equal labels combined: summed, or the min or max of them. */
export function mergeSamples(samples: Iterable<ProtocolMetricSample & { labels: Labels }>, how: 'sum' | 'min' | 'max' = 'sum'): Array<{ labels: Labels; value: number }> {
  const out = new Map<string, { labels: Labels; value: number }>();
  for (const s of samples) {
    const key = labelKey(s.labels);
    const seen = out.get(key);
    if (!seen) out.set(key, { labels: s.labels, value: s.value });
    else seen.value = how === 'sum' ? seen.value + s.value : how === 'min' ? Math.min(seen.value, s.value) : Math.max(seen.value, s.value);
  }
  return [...out.values()];
}

/** Histogram series with equal labels and bounds added together. */
export function mergeHistograms(samples: Iterable<ProtocolHistogramSample & { labels: Labels }>): Array<ProtocolHistogramSample & { labels: Labels }> {
  const out = new Map<string, { labels: Labels; bounds: readonly number[]; counts: number[]; sum: number; count: number }>();
  for (const s of samples) {
    const key = `${labelKey(s.labels)}\u0001${s.bounds.join(',')}`;
    const seen = out.get(key);
    if (!seen) {
      out.set(key, { labels: s.labels, bounds: s.bounds, counts: Array.from(s.counts), sum: s.sum, count: s.count });
      continue;
    }
    for (let i = 0; i < seen.counts.length; i++) seen.counts[i] += s.counts[i] ?? 0;
    seen.sum += s.sum;
    seen.count += s.count;
  }
  return [...out.values()];
}

/**
 * A metric family whose values are read from a sampler at scrape time. It implements the part
 * of prom-client's `Metric` that `Registry` uses (`name`, `help`, `type`, `get()`), so the
 * registry formats it like any other metric; nothing is stored between scrapes.
 */
export class ScrapedFamily {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly sampler: () => { scalars?: Array<{ labels: Labels; value: number }>; histograms?: Array<ProtocolHistogramSample & { labels: Labels }> },
    /** How a cluster primary combines the workers' series (prom-client's `AggregatorRegistry`). */
    readonly aggregator: 'sum' | 'min' | 'max' = 'sum',
  ) {}

  /** Registers this family in a prom-client registry. */
  asMetric(): Metric {
    return this as unknown as Metric;
  }

  /** What prom-client's registry calls on scrape. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: 'sum' | 'min' | 'max'; values: OutputValue[] }> {
    const sampled = this.sampler();
    const values: OutputValue[] = [];
    for (const s of sampled.scalars ?? []) values.push({ labels: s.labels, value: s.value });
    for (const h of sampled.histograms ?? []) {
      let cumulative = 0;
      for (let i = 0; i < h.bounds.length; i++) {
        cumulative += h.counts[i] ?? 0;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...h.labels, le: h.bounds[i] }, value: cumulative });
      }
      cumulative += h.counts[h.bounds.length] ?? 0;
      values.push({ metricName: `${this.name}_bucket`, labels: { ...h.labels, le: '+Inf' }, value: cumulative });
      values.push({ metricName: `${this.name}_sum`, labels: h.labels, value: h.sum });
      values.push({ metricName: `${this.name}_count`, labels: h.labels, value: cumulative });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
