import { AggregatorRegistry, Counter, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { MetricsExposition } from '../observability/admin-server';
import type { ClusterPrimary } from './cluster-primary';

type MetricJSON = MetricObjectWithValues<MetricValue<string>>;

/** Families the primary reports for the whole app (its readiness and reloads), not summed over workers. */
export const PRIMARY_FAMILIES: ReadonlySet<string> = new Set([
  'unipool_ready',
  'unipool_config_reloads_total',
  'unipool_config_last_reload_successful',
  'unipool_config_last_reload_success_timestamp_seconds',
]);

/** The label that names a worker's series in the per-worker view. */
export const WORKER_LABEL = 'worker';

/** Copies of a worker's families with `worker="<id>"` on every series. */
function labelled(families: readonly MetricJSON[], worker: number): MetricJSON[] {
  return families.map((f) => ({ ...f, values: f.values.map((v) => ({ ...v, labels: { ...v.labels, [WORKER_LABEL]: worker } })) }));
}

/**
 * `/metrics` of a cluster primary: every worker is scraped over IPC (each within
 * `cluster.scrapeTimeout`) and the answers are combined with prom-client's
 * `AggregatorRegistry.aggregate`: counters and histograms summed over the workers, gauges
 * summed unless a sum means nothing (limits and health: the max; see each family's
 * `aggregator`). `?by=worker` serves each worker's series apart, with a `worker` label, instead:
 * both in one answer would count every figure twice under `sum()`. The primary adds its own
 * readiness and reload figures and the cluster's: workers by state, restarts, scrape failures,
 * and `unipool_cluster_worker_up` (0 for a worker that did not answer in time: it is left out
 * of the sums of that scrape, never a 500).
 */
export class ClusterMetrics implements MetricsExposition {
  private readonly own = new Registry();
  private readonly up: Gauge;
  readonly contentType = this.own.contentType;

  constructor(
    private readonly primary: ClusterPrimary,
    private readonly primaryFamilies: () => Promise<MetricJSON[]>,
  ) {
    const p = primary;
    this.counter('unipool_cluster_worker_restarts_total', 'Workers replaced after they died (crash, kill, or not ready in time).', () => p.stats.restarts);
    this.counter('unipool_cluster_scrape_failures_total', 'Worker scrapes (/metrics, /status) that got no answer within cluster.scrapeTimeout.', () => p.stats.scrapeFailures);
    this.counter('unipool_cluster_connections_rescued_total', 'Connections the primary had handed to a worker that died before taking them, handed to a live worker instead.', () => p.stats.rescuedConnections);
    this.counter('unipool_cluster_connections_dropped_total', 'Connections a dead worker was handed and never took that no live worker took either: closed.', () => p.stats.droppedConnections);
    new Gauge({
      name: 'unipool_cluster_workers',
      help: 'Worker processes by state.',
      labelNames: ['state'],
      registers: [this.own],
      collect() {
        this.reset();
        const counts: Record<string, number> = { starting: 0, ready: 0, 'not ready': 0, stopping: 0 };
        for (const w of p.workers()) counts[w.state] = (counts[w.state] ?? 0) + 1;
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'unipool_cluster_workers_min_ready',
      help: 'Ready workers needed for /readyz to answer ready (cluster.minReady).',
      registers: [this.own],
      collect() {
        this.set(p.minReady);
      },
    });
    this.up = new Gauge({ name: 'unipool_cluster_worker_up', help: 'Whether a worker answered this scrape in time (1) or not (0).', labelNames: [WORKER_LABEL, 'pid'], registers: [this.own] });
  }

  /** A counter read from the primary's own figures on each scrape. */
  private counter(name: string, help: string, read: () => number): void {
    new Counter({
      name,
      help,
      registers: [this.own],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }

  async metrics(query?: URLSearchParams): Promise<string> {
    const perWorker = query?.get('by') === WORKER_LABEL;
    const replies = await this.primary.collect<MetricJSON[]>('metrics');
    this.up.reset();
    const sets: MetricJSON[][] = [];
    for (const reply of replies) {
      this.up.set({ [WORKER_LABEL]: reply.info.id, pid: reply.info.pid ?? 0 }, reply.value ? 1 : 0);
      if (!reply.value) continue;
      const families = reply.value.filter((f) => !PRIMARY_FAMILIES.has(f.name));
      sets.push(perWorker ? labelled(families, reply.info.id) : families);
    }
    sets.push((await this.primaryFamilies()).filter((f) => PRIMARY_FAMILIES.has(f.name)));
    const aggregated = AggregatorRegistry.aggregate(sets);
    return (await aggregated.metrics()) + (await this.own.metrics());
  }
}
