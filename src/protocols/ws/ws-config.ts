import { IsInt, IsString, Matches, Max, Min } from 'class-validator';
import { ServerPoolSettings } from '../../config/pool-config';
import type { ConfigProblem } from '../../errors';

/**
 * Section `ws`: a WebSocket server (`ws` on its own `node:http` server) and its pool. Times are
 * milliseconds, sizes bytes. A connection is admitted when its upgrade completes, so
 * `connectionTimeout` here bounds the wait for a client's first message (0, the default, turns
 * it off: listen-only clients are normal); `handshakeTimeout` bounds the upgrade request itself.
 */
export class WebSocketPoolConfig extends ServerPoolSettings {
  override port = 3001;
  override maxConnections = 10_000;
  override connectionTimeout = 0;
  /** Request path that accepts upgrades; any other path gets `404`. */
  @IsString() @Matches(/^\/[^\s?#]*$/, { message: 'must start with / and hold no spaces, query or fragment' }) path = '/ws';
  /** How often every client is pinged. */
  @IsInt() @Min(10) @Max(3_600_000) pingInterval = 30_000;
  /** How long a pinged client has to answer before it is terminated; at most `pingInterval`. */
  @IsInt() @Min(10) @Max(3_600_000) pongTimeout = 10_000;
  /** Largest message a client may send; a larger one closes the connection with 1009. */
  @IsInt() @Min(1) @Max(1_073_741_824) maxPayload = 1_048_576;
  /**
   * Bytes a client may have waiting in its send buffer: over it, broadcasts skip the client and,
   * if it is still over at the next check, it is closed with 1008. At least `maxPayload`.
   */
  @IsInt() @Min(1024) @Max(1_073_741_824) maxBufferedAmount = 4_194_304;
  /** Time a client has to send its complete upgrade request (slowloris guard). */
  @IsInt() @Min(1) @Max(86_400_000) handshakeTimeout = 10_000;
  /** Time the close handshake may take before the socket is terminated (counted as forced in a drain). */
  @IsInt() @Min(1) @Max(3_600_000) closeTimeout = 5000;
  /** Seconds a refused client is told to wait (`Retry-After`). */
  @IsInt() @Min(0) @Max(86_400) retryAfter = 1;

  override crossCheck(): ConfigProblem[] {
    const problems = super.crossCheck();
    if (this.pongTimeout > this.pingInterval) {
      problems.push({ path: 'pongTimeout', rule: 'crossField', message: `must not be greater than pingInterval (${this.pingInterval})`, value: this.pongTimeout });
    }
    if (this.maxBufferedAmount < this.maxPayload) {
      problems.push({ path: 'maxBufferedAmount', rule: 'crossField', message: `must not be less than maxPayload (${this.maxPayload}), or echoing one allowed message could trip it`, value: this.maxBufferedAmount });
    }
    return problems;
  }
}
