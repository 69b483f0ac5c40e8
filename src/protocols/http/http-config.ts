import { Type } from 'class-transformer';
import { IsBoolean, IsInt, IsObject, Max, Min, ValidateNested } from 'class-validator';
import { HealthThresholds, ServerPoolSettings } from '../../config/pool-config';
import type { ConfigProblem } from '../../errors';

/** The `health` block of sections `http` and `https`: every threshold, plus how 5xx responses count. */
export class HttpHealthThresholds extends HealthThresholds {
  /**
   * A response with a 5xx status counts as a failed request in the error rate, whether the
   * handler threw or wrote it itself (a framework's error handler, say). `false`: only a
   * handler that throws or an aborted response counts.
   */
  @IsBoolean() countHttp5xxAsError = true;
}

/** Section `http`: an HTTP/1.1 server and its pool. Times are milliseconds; 0 turns a timeout off. */
export class HttpPoolConfig extends ServerPoolSettings {
  override port = 3000;
  /** Health thresholds, and whether a 5xx response is a failed request. */
  @IsObject() @ValidateNested() @Type(() => HttpHealthThresholds) override health: HttpHealthThresholds = new HttpHealthThresholds();
  /** How long an idle keep-alive socket waits for its next request. */
  @IsInt() @Min(0) @Max(86_400_000) keepAliveTimeout = 5000;
  /** Time a client has to send a request's headers (slowloris guard); at most `requestTimeout`. */
  @IsInt() @Min(1) @Max(86_400_000) headersTimeout = 60_000;
  /** Time a client has to send a whole request. */
  @IsInt() @Min(0) @Max(86_400_000) requestTimeout = 300_000;
  /** Seconds a refused client is told to wait (`Retry-After`). */
  @IsInt() @Min(0) @Max(86_400) retryAfter = 1;

  override crossCheck(): ConfigProblem[] {
    const problems = super.crossCheck();
    if (this.requestTimeout > 0 && this.headersTimeout > this.requestTimeout) {
      problems.push({ path: 'headersTimeout', rule: 'crossField', message: `must not be greater than requestTimeout (${this.requestTimeout})`, value: this.headersTimeout });
    }
    return problems;
  }
}
