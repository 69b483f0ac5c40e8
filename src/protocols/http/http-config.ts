import { IsInt, Max, Min } from 'class-validator';
import { ServerPoolSettings } from '../../config/pool-config';
import type { ConfigProblem } from '../../errors';

/** Section `http`: an HTTP/1.1 server and its pool. Times are milliseconds; 0 turns a timeout off. */
export class HttpPoolConfig extends ServerPoolSettings {
  override port = 3000;
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
