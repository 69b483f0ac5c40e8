import { IsInt, Max, Min, ValidateIf } from 'class-validator';
import type { CrossFieldRules } from '../config/pool-config';
import type { ConfigProblem } from '../errors';

const WORKERS_RULE = 'must be a whole number from 0 to 1024, or "auto"';

/**
 * Section `cluster`: run the same app file as a `node:cluster` primary (a supervisor that serves
 * the admin endpoint) and `workers` worker processes (the servers and their pools). Absent or
 * `workers: 0`: one process, as without the section. Times are milliseconds. Restart to change.
 */
export class ClusterConfig implements CrossFieldRules {
  /** Worker processes: a number, `"auto"` (`os.availableParallelism()`), or 0 for one process. Env: `UNIPOOL_CLUSTER_WORKERS`. */
  @ValidateIf((c: ClusterConfig) => c.workers !== 'auto')
  @IsInt({ message: WORKERS_RULE })
  @Min(0, { message: WORKERS_RULE })
  @Max(1024, { message: WORKERS_RULE })
  workers: number | 'auto' = 0;
  /** Wait before replacing a worker that died; doubled for each further crash in a row. */
  @IsInt() @Min(0) @Max(3_600_000) restartDelay = 1000;
  /** Longest wait before a replacement, however many crashes in a row. */
  @IsInt() @Min(0) @Max(3_600_000) maxRestartDelay = 30_000;
  /** A worker that ran this long before it died starts the backoff over from `restartDelay`. */
  @IsInt() @Min(0) @Max(86_400_000) stableAfter = 60_000;
  /** Time a new worker may take to boot and be ready; a worker not ready by then is killed and replaced. */
  @IsInt() @Min(100) @Max(3_600_000) readyTimeout = 30_000;
  /** `/readyz` answers ready while at least this many workers are ready. */
  @IsInt() @Min(1) @Max(1024) minReady = 1;
  /** Time a worker has to answer a scrape of `/metrics` or `/status`; one that does not is reported, not waited for. */
  @IsInt() @Min(10) @Max(60_000) scrapeTimeout = 2000;

  crossCheck(): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    if (this.restartDelay > this.maxRestartDelay) {
      problems.push({ path: 'restartDelay', rule: 'crossField', message: `must not be greater than maxRestartDelay (${this.maxRestartDelay})`, value: this.restartDelay });
    }
    if (typeof this.workers === 'number' && this.workers > 0 && this.minReady > this.workers) {
      problems.push({ path: 'minReady', rule: 'crossField', message: `must not be greater than workers (${this.workers})`, value: this.minReady });
    }
    return problems;
  }
}
